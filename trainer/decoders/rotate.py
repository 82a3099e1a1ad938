"""RotatE: relations as rotations in the complex plane.

Sun et al., "RotatE: Knowledge Graph Embedding by Relational Rotation in Complex Space",
ICLR 2019, https://arxiv.org/abs/1902.10197.

.. math::

    f(h, r, t) = \\gamma - \\lVert \\mathbf{h} \\circ \\mathbf{r} - \\mathbf{t} \\rVert_2,
    \\qquad |r_i| = 1,\\; r_i = e^{i \\theta_i}

Entity vectors are ``dim/2`` complex numbers (real half, imaginary half); each relation
is ``dim/2`` phases :math:`\\theta`, so its modulus is 1 by construction. The distance is
the Euclidean norm over the complex vector (as PyKEEN's ``RotatEInteraction``), which
lets 1-N scoring use one pairwise-distance call instead of a ``[B, E, dim]`` tensor.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from trainer.decoders.base import ComplexDecoder, DistanceDecoder, register
from trainer.decoders.transe import _cdist


@register
class RotatE(DistanceDecoder):
    """RotatE: ``f(h, r, t) = margin - ||h * r - t||`` with unit-modulus complex ``r``.

    Args:
        margin: initial value of the learnable margin (default 6.0).
    """

    name = "rotate"

    def __init__(self, *, num_relations: int, dim: int, margin: float = 6.0) -> None:
        if dim % 2:
            raise ValueError(f"RotatE needs an even dim (real and imaginary halves), got {dim}")
        super().__init__(num_relations=num_relations, dim=dim, margin=margin)

    def relation_dim(self) -> int:
        return self.dim // 2  # phases

    def reset_parameters(self) -> None:
        super().reset_parameters()
        nn.init.uniform_(self.relations.weight, -math.pi, math.pi)

    split = staticmethod(ComplexDecoder.split)

    def _rotate(self, x: Tensor, phase: Tensor, sign: float = 1.0) -> Tensor:
        re, im = self.split(x)
        cos, sin = torch.cos(phase), sign * torch.sin(phase)
        return torch.cat([re * cos - im * sin, re * sin + im * cos], dim=-1)

    def _score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return self.margin - torch.linalg.vector_norm(self._rotate(h, r) - t, dim=-1)

    def _score_all_tails(self, h: Tensor, r: Tensor, entities: Tensor) -> Tensor:
        return self.margin - _cdist(self._rotate(h, r), entities, 2)

    def _score_all_heads(self, r: Tensor, t: Tensor, entities: Tensor) -> Tensor:
        # |r_i| = 1, so ||h * r - t|| = ||h - t * conj(r)||
        return self.margin - _cdist(self._rotate(t, r, sign=-1.0), entities, 2)

    def regularization(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        """N3 on entity moduli (relations have modulus 1, nothing to penalise)."""
        total = 0.0
        for x in (h, t):
            re, im = self.split(x)
            total = total + (re.pow(2) + im.pow(2)).sqrt().pow(3).sum()
        return total / h.size(0)
