"""The decoder interface and the registry that resolves decoders by name.

A decoder turns entity vectors (from an encoder) and a relation index into a plausibility
score; higher means more plausible. Every decoder answers three questions:

* ``score(h, r, t)``: one score per triple (``h``, ``t``: ``[B, dim]`` vectors, ``r``: ``[B]``
  relation indices) -> ``[B]``;
* ``score_all_tails(h, r, entities)``: ``(h, r, ?)`` against every candidate tail, the
  "1-N scoring" of Dettmers et al. (2018), https://arxiv.org/abs/1707.01476 -> ``[B, E]``;
* ``score_all_heads(r, t, entities)``: ``(?, r, t)`` against every candidate head -> ``[B, E]``.

``score_all_*`` must equal ``score`` applied to every candidate (the tests check this for
every registered decoder); they exist because a matrix product against all entities is
one to two orders of magnitude faster than scoring the candidates one by one.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from trainer.config import DECODER_NAMES

DECODERS: dict[str, type[Decoder]] = {}
"""Decoder classes by name; the names are :data:`trainer.config.DECODER_NAMES` (torch-free, for the CLI)."""


def register(cls: type[Decoder]) -> type[Decoder]:
    """Class decorator: make ``cls`` resolvable as ``cls.name`` (a name listed in ``DECODER_NAMES``)."""
    if cls.name not in DECODER_NAMES:
        raise ValueError(f"decoder {cls.name!r} is not listed in trainer.config.DECODER_NAMES "
                         f"({', '.join(DECODER_NAMES)}): add it there, where TrainConfig and the CLI read the names")
    DECODERS[cls.name] = cls
    return cls


def resolve_decoder(name: str, **kwargs) -> Decoder:
    """Build the decoder registered as ``name`` (case-insensitive) with keyword arguments."""
    cls = DECODERS.get(name.strip().lower())
    if cls is None:
        raise ValueError(f"unknown decoder {name!r}: use one of {', '.join(sorted(DECODERS))}")
    return cls(**kwargs)


class Decoder(nn.Module):
    """Base class: holds one learnable vector per relation (``relation_dim`` wide).

    Args:
        num_relations: relation ids the decoder scores (``2 R`` with reciprocal relations).
        dim: width of the entity vectors it receives.
    """

    name = ""

    def __init__(self, *, num_relations: int, dim: int) -> None:
        super().__init__()
        if num_relations < 1 or dim < 1:
            raise ValueError(f"num_relations ({num_relations}) and dim ({dim}) must be positive")
        self.num_relations = num_relations
        self.dim = dim
        self.relations = nn.Embedding(num_relations, self.relation_dim())
        self.reset_parameters()

    def relation_dim(self) -> int:
        return self.dim

    def reset_parameters(self) -> None:
        nn.init.xavier_uniform_(self.relations.weight)

    # -- public interface: validate, then call the hook ----------------------------------
    def score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """Scores ``[B]`` of triples given entity vectors ``h``, ``t`` ``[B, dim]`` and ids ``r`` ``[B]``."""
        return self._score(h, self.relations(r), t)

    def score_all_tails(self, h: Tensor, r: Tensor, entities: Tensor) -> Tensor:
        """Scores ``[B, E]`` of ``(h_b, r_b, e)`` for every entity vector ``e`` in ``entities`` ``[E, dim]``."""
        return self._score_all_tails(h, self.relations(r), entities)

    def score_all_heads(self, r: Tensor, t: Tensor, entities: Tensor) -> Tensor:
        """Scores ``[B, E]`` of ``(e, r_b, t_b)`` for every entity vector ``e`` in ``entities`` ``[E, dim]``."""
        return self._score_all_heads(self.relations(r), t, entities)

    def regularization(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """N3 penalty (Lacroix et al. 2018, https://arxiv.org/abs/1806.07297): mean of sum |x|^3.

        Subclasses with complex vectors override it with the modulus-based version.
        """
        rel = self.relations(r)
        return (h.abs().pow(3).sum() + rel.abs().pow(3).sum() + t.abs().pow(3).sum()) / h.size(0)

    # -- hooks ---------------------------------------------------------------------------
    def _score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def _score_all_tails(self, h: Tensor, r: Tensor, entities: Tensor) -> Tensor:
        raise NotImplementedError

    def _score_all_heads(self, r: Tensor, t: Tensor, entities: Tensor) -> Tensor:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"num_relations={self.num_relations}, dim={self.dim}"


class ComplexDecoder(Decoder):
    """Base for decoders that read a ``dim``-wide real vector as ``dim/2`` complex numbers.

    The first half holds the real parts, the second half the imaginary parts.
    """

    def __init__(self, *, num_relations: int, dim: int) -> None:
        if dim % 2:
            raise ValueError(f"{type(self).__name__} needs an even dim (real and imaginary halves), got {dim}")
        super().__init__(num_relations=num_relations, dim=dim)

    @staticmethod
    def split(x: Tensor) -> tuple[Tensor, Tensor]:
        half = x.size(-1) // 2
        return x[..., :half], x[..., half:]

    def regularization(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """N3 on complex moduli, as Lacroix et al. (2018) use for ComplEx."""
        total = 0.0
        for x in (h, self.relations(r), t):
            re, im = self.split(x)
            total = total + (re.pow(2) + im.pow(2)).sqrt().pow(3).sum()
        return total / h.size(0)


class DistanceDecoder(Decoder):
    """Base for translational decoders: ``score = margin - distance``.

    The margin is a learnable scalar (initialised to ``margin``). It does not change any
    ranking, but with a sigmoid-based loss (BCE, self-adversarial negative sampling) it
    sets where "plausible" starts, as the fixed ``gamma`` of Sun et al. (2019) does.
    """

    def __init__(self, *, num_relations: int, dim: int, margin: float = 6.0) -> None:
        self.initial_margin = float(margin)
        super().__init__(num_relations=num_relations, dim=dim)
        self.margin = nn.Parameter(torch.tensor(self.initial_margin))

    def reset_parameters(self) -> None:
        bound = 6.0 / math.sqrt(self.relation_dim())
        nn.init.uniform_(self.relations.weight, -bound, bound)
        if isinstance(getattr(self, "margin", None), nn.Parameter):
            with torch.no_grad():
                self.margin.fill_(self.initial_margin)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, margin={self.initial_margin}"
