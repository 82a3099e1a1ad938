"""Decoders: score a triple from entity vectors and a relation (DistMult, TransE, RotatE, ComplEx).

Importing this package registers every decoder; ``resolve_decoder(name, **kwargs)`` builds one.
Their names are :data:`trainer.config.DECODER_NAMES`, which needs no torch; the registry is
checked against it here.
"""

from trainer.config import DECODER_NAMES
from trainer.decoders.base import DECODERS, ComplexDecoder, Decoder, DistanceDecoder, resolve_decoder
from trainer.decoders.complex import ComplEx
from trainer.decoders.distmult import DistMult
from trainer.decoders.rotate import RotatE
from trainer.decoders.transe import TransE

if set(DECODERS) != set(DECODER_NAMES):
    raise ImportError(f"trainer.config.DECODER_NAMES ({', '.join(DECODER_NAMES)}) and the registered decoders "
                      f"({', '.join(sorted(DECODERS))}) differ: keep them the same")

__all__ = ["DECODERS", "ComplEx", "ComplexDecoder", "Decoder", "DistMult", "DistanceDecoder", "RotatE", "TransE",
           "resolve_decoder"]
