"""DistMult: a bilinear model with a diagonal relation matrix (the kgstore default).

Yang et al., "Embedding Entities and Relations for Learning and Inference in Knowledge
Bases", ICLR 2015, https://arxiv.org/abs/1412.6575. Schlichtkrull et al. (2018) use it as
the decoder over an R-GCN encoder, https://arxiv.org/abs/1703.06103.

.. math::

    f(h, r, t) = \\langle \\mathbf{h}, \\mathbf{r}, \\mathbf{t} \\rangle = \\sum_i h_i r_i t_i

.. note:: DistMult is symmetric (:math:`f(h, r, t) = f(t, r, h)`); kgstore trains it with
   reciprocal relations (:math:`r^{-1}` gets its own vector), which gives back direction
   for the query side.
"""

from __future__ import annotations

from torch import Tensor

from trainer.decoders.base import Decoder, register


@register
class DistMult(Decoder):
    """DistMult: ``f(h, r, t) = sum_i h_i r_i t_i``; one ``dim``-wide vector per relation."""

    name = "distmult"

    def _score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        return (h * r * t).sum(-1)

    def _score_all_tails(self, h: Tensor, r: Tensor, entities: Tensor) -> Tensor:
        return (h * r) @ entities.t()

    def _score_all_heads(self, r: Tensor, t: Tensor, entities: Tensor) -> Tensor:
        return (r * t) @ entities.t()
