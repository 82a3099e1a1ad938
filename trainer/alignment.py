"""Contrastive alignment of structural entity vectors with their text and image features.

InfoNCE (van den Oord et al. 2018, https://arxiv.org/abs/1807.03748) in its symmetric CLIP
form (Radford et al. 2021): for a batch of ``B`` entities with modality ``m``, with
:math:`\\mathbf{z}_i` the encoder's output vector of entity ``i`` and :math:`\\mathbf{q}_i
= h_m(\\mathbf{f}_{m,i})` its alignment-head vector, both L2-normalised,

.. math::

    \\ell = \\tfrac12 \\Big[\\mathrm{CE}\\big(\\tau\\, Z Q^\\top, I\\big)
                      + \\mathrm{CE}\\big(\\tau\\, Q Z^\\top, I\\big)\\Big],
    \\qquad \\tau = \\exp(t) \\le 100

with a learned log-temperature ``t`` (initialised at :math:`\\log(1/0.07)`). The loss is
averaged over the modalities and added to the link-prediction loss with weight
``TrainConfig.align_weight``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

MAX_LOGIT_SCALE = math.log(100.0)


def info_nce(z: Tensor, q: Tensor, log_scale: Tensor) -> Tensor:
    """Symmetric InfoNCE of matching rows ``z[i]`` / ``q[i]`` (``[B, dim]`` each)."""
    z, q = F.normalize(z.float(), dim=1), F.normalize(q.float(), dim=1)
    logits = log_scale.clamp(max=MAX_LOGIT_SCALE).exp() * z @ q.t()
    labels = torch.arange(len(z), device=z.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels))


def alignment_loss(features: torch.nn.Module, x: Tensor, local: Tensor, *, batch_size: int) -> Tensor | None:
    """Mean InfoNCE over modalities for up to ``batch_size`` random entities that have each one.

    ``x`` holds the encoder outputs computed this step and ``local`` maps a global entity
    id to its row in ``x`` (``-1`` when not computed); ``features`` is the model's
    :class:`~trainer.encoders.multimodal.MultimodalFeatures`. None when no modality has
    two computed entities.
    """
    losses = []
    for modality in features.modalities:
        ids = torch.nonzero(features.present(modality) & (local >= 0)).flatten()
        if ids.numel() < 2:
            continue
        pick = ids[torch.randperm(ids.numel(), device=ids.device)[:batch_size]]
        losses.append(info_nce(x[local[pick]], features.aligned(modality, pick), features.logit_scale))
    return torch.stack(losses).mean() if losses else None
