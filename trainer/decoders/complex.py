"""ComplEx: a bilinear model in complex space, able to model asymmetric relations.

Trouillon et al., "Complex Embeddings for Simple Link Prediction", ICML 2016,
https://arxiv.org/abs/1606.06357. With N3 regularisation and reciprocal relations it is
among the strongest shallow models (Lacroix et al. 2018, https://arxiv.org/abs/1806.07297).

.. math::

    f(h, r, t) = \\operatorname{Re}\\left(\\langle \\mathbf{h}, \\mathbf{r},
    \\overline{\\mathbf{t}} \\rangle\\right)
    = \\operatorname{Re}\\left(\\sum_i h_i r_i \\overline{t_i}\\right)

Entity and relation vectors are ``dim/2`` complex numbers: real half, imaginary half.
"""

from __future__ import annotations

import torch
from torch import Tensor

from trainer.decoders.base import ComplexDecoder, register


@register
class ComplEx(ComplexDecoder):
    """ComplEx: ``f(h, r, t) = Re(sum_i h_i r_i conj(t_i))``."""

    name = "complex"

    @classmethod
    def _times(cls, a: Tensor, b: Tensor) -> Tensor:
        """Complex product ``a * b`` in (real half, imaginary half) layout."""
        a_re, a_im = cls.split(a)
        b_re, b_im = cls.split(b)
        return torch.cat([a_re * b_re - a_im * b_im, a_re * b_im + a_im * b_re], dim=-1)

    @classmethod
    def _conj(cls, a: Tensor) -> Tensor:
        re, im = cls.split(a)
        return torch.cat([re, -im], dim=-1)

    def _score(self, h: Tensor, r: Tensor, t: Tensor) -> Tensor:
        # Re(a * conj(t)) = a_re t_re + a_im t_im: a plain dot product of the real layouts
        return (self._times(h, r) * t).sum(-1)

    def _score_all_tails(self, h: Tensor, r: Tensor, entities: Tensor) -> Tensor:
        return self._times(h, r) @ entities.t()

    def _score_all_heads(self, r: Tensor, t: Tensor, entities: Tensor) -> Tensor:
        # Re(h * b) with b = r * conj(t) = h_re b_re - h_im b_im = <h, conj(b)>
        return self._conj(self._times(r, self._conj(t))) @ entities.t()
