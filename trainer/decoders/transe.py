"""TransE: relations as translations in the embedding space.

Bordes et al., "Translating Embeddings for Modeling Multi-relational Data", NeurIPS 2013,
https://papers.nips.cc/paper/5071-translating-embeddings-for-modeling-multi-relational-data.

.. math::

    f(h, r, t) = \\gamma - \\lVert \\mathbf{h} + \\mathbf{r} - \\mathbf{t} \\rVert_p

with :math:`p = 1` by default (as PyKEEN) and a learnable margin :math:`\\gamma` that
leaves rankings unchanged (see :class:`~trainer.decoders.base.DistanceDecoder`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from trainer.decoders.base import DistanceDecoder, register


@register
class TransE(DistanceDecoder):
    """TransE: ``f(h, r, t) = margin - ||h + r - t||_p``.

    Args:
        p: the norm, 1 (default) or 2.
        margin: initial value of the learnable margin (default 6.0).
    """

    name = "transe"

    def __init__(self, *, num_relations: int, dim: int, p: int = 1, margin: float = 6.0) -> None:
        if p not in (1, 2):
            raise ValueError(f"TransE norm p must be 1 or 2, got {p}")
        self.p = p
        super().__init__(num_relations=num_relations, dim=dim, margin=margin)

    def _score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return self.margin - torch.linalg.vector_norm(h + r - t, ord=self.p, dim=-1)

    def _score_all_tails(self, h: Tensor, r: Tensor, entities: Tensor) -> Tensor:
        return self.margin - _cdist(h + r, entities, self.p)

    def _score_all_heads(self, r: Tensor, t: Tensor, entities: Tensor) -> Tensor:
        # ||e + r - t|| = ||e - (t - r)||
        return self.margin - _cdist(t - r, entities, self.p)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, p={self.p}"


def _cdist(a: Tensor, b: Tensor, p: int) -> Tensor:
    """Pairwise distances; exact (no matrix-product shortcut) so they match the per-triple norm."""
    dtype = torch.promote_types(a.dtype, b.dtype)
    return torch.cdist(a.to(dtype), b.to(dtype), p=float(p),
                       compute_mode="donot_use_mm_for_euclid_dist")
