"""Decoders: score a triple from entity vectors and a relation (DistMult, TransE, RotatE, ComplEx).

Importing this package registers every decoder; ``resolve_decoder(name, **kwargs)`` builds one.
"""

from trainer.decoders.base import DECODERS, ComplexDecoder, Decoder, DistanceDecoder, resolve_decoder
from trainer.decoders.complex import ComplEx
from trainer.decoders.distmult import DistMult
from trainer.decoders.rotate import RotatE
from trainer.decoders.transe import TransE

__all__ = ["DECODERS", "ComplEx", "ComplexDecoder", "Decoder", "DistMult", "DistanceDecoder", "RotatE", "TransE",
           "resolve_decoder"]
