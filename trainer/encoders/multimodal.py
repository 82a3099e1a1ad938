"""Multimodal entity features: a structural vector fused with projected text and image features.

Fusion is a *gated sum* in the R-GCN input space (width ``dim``):

.. math::

    \\mathbf{x}_e = \\mathbb{1}[\\deg(e) > 0]\\, \\mathbf{s}_e
      + \\sum_{m \\in \\{\\text{text}, \\text{image}\\}} \\sigma(\\mathbf{g}_m) \\odot
        \\begin{cases} \\mathbf{W}_m \\hat{\\mathbf{f}}_{m,e} + \\mathbf{b}_m & e \\text{ has } m \\\\
                       \\mathbf{p}_m & \\text{otherwise} \\end{cases}

- :math:`\\mathbf{s}_e`: a free learnable vector (plain KG embedding), used only for
  entities with at least one training edge. An entity without edges (a cold-start movie
  known by poster and plot only) has never been trained, so its vector comes from its
  modalities alone rather than from a random initialisation.
- :math:`\\hat{\\mathbf{f}}_{m,e}`: the frozen encoder's feature (MiniLM, EfficientNet,
  CLIP), standardised per dimension with the mean and standard deviation over the
  entities that have it; an entity with several images gets their mean feature.
- :math:`\\mathbf{p}_m`: a learned placeholder for entities missing modality ``m``.
- :math:`\\sigma(\\mathbf{g}_m)`: a learned per-dimension gate, initialised at 0.5.

A sum (rather than concatenation + linear) keeps the input width at ``dim`` whatever the
modalities, so an R-GCN, a decoder and a checkpoint have the same shapes with or
without them; the gates learn how much each modality contributes per dimension.

``fusion="split"`` keeps the width too, but gives the modalities their own positions
(``modality_share`` of them, whole complex coordinates) and the structural vector the rest. A
bilinear decoder's score is then a structure part plus a text part, each with the relation's own
weights, so every relation decides how much text counts for it. Why: with the plain sum on
WN18RR, a shared projection of near-identical definitions (the senses of one word) lands in every
position of the vector, and the ranking cannot tell those entities apart: test Hits@1 fell from
0.36 to 0.05 after two epochs (measured; KG-BERT's text-only WN18RR Hits@1 is 0.04). That
collapse came from the heads' step size more than from the shared positions: with the heads at a
hundredth of Adagrad's rate the sum reached test MRR 0.456 on WN18RR, the split fusion (heads at a
tenth) 0.443, structure alone 0.464; so ``sum`` stays the default.

The module also holds the *alignment heads* :math:`h_m(\\mathbf{f}) = \\mathbf{A}_m
\\hat{\\mathbf{f}} + \\mathbf{c}_m` and the temperature of the InfoNCE loss
(:func:`trainer.alignment.alignment_loss`) that pulls each entity's output vector
towards :math:`h_m` of its own text and image: after training, a text or an image query
projected by :meth:`MultimodalFeatures.project_query` lives in the space of the entity
vectors written to Neo4j.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from trainer.config import FUSIONS, MODALITIES
from trainer.encoders.features import EntityFeatures


class MultimodalFeatures(EntityFeatures):
    """Gated sum of a structural embedding and projected modality features (see module docstring).

    Args:
        num_entities: entities in the graph.
        dim: output width (the R-GCN input width).
        modality_dims: raw feature width per modality, e.g. ``{"text": 384, "image": 1280}``.
        structural: add the free per-entity vector :math:`\\mathbf{s}_e` (default True).

    The raw features, which entities have each modality, and which entities have edges
    are buffers saved with the model (:meth:`set_features`, :meth:`set_degrees`), so a
    checkpoint reproduces its entity vectors without the encoders.
    """

    def __init__(self, *, num_entities: int, dim: int, modality_dims: dict[str, int], structural: bool = True,
                 fusion: str = "sum", modality_share: float = 0.25) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion {fusion!r}: use one of {', '.join(FUSIONS)}")
        unknown = sorted(set(modality_dims) - set(MODALITIES))
        if unknown or not modality_dims:
            raise ValueError(f"modalities {unknown or '(none)'}: use one or more of {', '.join(MODALITIES)}")
        self.num_entities, self.dim = num_entities, dim
        self.modalities = [m for m in MODALITIES if m in modality_dims]
        self.modality_dims = dict(modality_dims)
        self.structure = nn.Embedding(num_entities, dim) if structural else None
        self.project = nn.ModuleDict({m: nn.Linear(modality_dims[m], dim) for m in self.modalities})
        self.align = nn.ModuleDict({m: nn.Linear(modality_dims[m], dim) for m in self.modalities})
        self.placeholder = nn.ParameterDict({m: nn.Parameter(torch.zeros(dim)) for m in self.modalities})
        self.gate = nn.ParameterDict({m: nn.Parameter(torch.zeros(dim)) for m in self.modalities})
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        for m in self.modalities:
            self.register_buffer(f"raw_{m}", torch.zeros(num_entities, modality_dims[m]))
            self.register_buffer(f"has_{m}", torch.zeros(num_entities, dtype=torch.bool))
            self.register_buffer(f"mean_{m}", torch.zeros(modality_dims[m]))
            self.register_buffer(f"std_{m}", torch.ones(modality_dims[m]))
        self.register_buffer("has_edges", torch.ones(num_entities, dtype=torch.bool))
        self.fusion = fusion
        # "split": which of the dim positions the modalities own (the structural vector owns the rest);
        # rebuilt from the config on load, so not saved
        self.register_buffer("modality_positions", modality_positions(dim, modality_share if fusion == "split"
                                                                       else 1.0), persistent=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.structure is not None:
            nn.init.normal_(self.structure.weight, std=1.0 / math.sqrt(self.dim))
        for m in self.modalities:
            for layer in (self.project[m], self.align[m]):
                nn.init.normal_(layer.weight, std=1.0 / math.sqrt(self.modality_dims[m] * self.dim))
                nn.init.zeros_(layer.bias)

    # -- data ------------------------------------------------------------------------------
    def set_features(self, modality: str, features: Tensor, present: Tensor) -> None:
        """Raw features ``[E, d]`` of ``modality`` and the mask ``[E]`` of entities that have it."""
        if modality not in self.modalities:
            raise ValueError(f"this model has modalities {self.modalities}, not {modality!r}")
        features = torch.as_tensor(features, dtype=torch.float32)
        present = torch.as_tensor(present, dtype=torch.bool)
        expected = (self.num_entities, self.modality_dims[modality])
        if tuple(features.shape) != expected or present.shape != (self.num_entities,):
            raise ValueError(f"{modality} features {tuple(features.shape)} / mask {tuple(present.shape)}: "
                             f"expected {expected} / ({self.num_entities},)")
        rows = features[present]
        mean = rows.mean(0) if len(rows) else torch.zeros(expected[1])
        std = rows.std(0, unbiased=False).clamp_min(1e-6) if len(rows) > 1 else torch.ones(expected[1])
        device = getattr(self, f"raw_{modality}").device
        setattr(self, f"raw_{modality}", features.to(device))
        setattr(self, f"has_{modality}", present.to(device))
        setattr(self, f"mean_{modality}", mean.to(device))
        setattr(self, f"std_{modality}", std.to(device))

    def set_degrees(self, has_edges: Tensor) -> None:
        """Which entities ``[E]`` have training edges (the others get no structural vector)."""
        self.has_edges = torch.as_tensor(has_edges, dtype=torch.bool).to(self.has_edges.device)

    def present(self, modality: str) -> Tensor:
        return getattr(self, f"has_{modality}")

    def _standardise(self, modality: str, raw: Tensor) -> Tensor:
        return (raw - getattr(self, f"mean_{modality}")) / getattr(self, f"std_{modality}")

    # -- forward ---------------------------------------------------------------------------
    def forward(self, entity_ids: Tensor) -> Tensor:
        x = torch.zeros(entity_ids.numel(), self.dim, device=entity_ids.device)
        split = self.fusion == "split"
        if self.structure is not None:
            x = self.structure(entity_ids) * self.has_edges[entity_ids, None]
            if split:
                x = x * ~self.modality_positions
        for m in self.modalities:
            raw = getattr(self, f"raw_{m}")[entity_ids]
            projected = self.project[m](self._standardise(m, raw))
            projected = torch.where(self.present(m)[entity_ids, None], projected, self.placeholder[m])
            x = x + torch.sigmoid(self.gate[m]) * (projected * self.modality_positions if split else projected)
        return x

    def aligned(self, modality: str, entity_ids: Tensor) -> Tensor:
        """Alignment-head vectors ``[n, dim]`` of the entities' own ``modality`` features."""
        return self.align[modality](self._standardise(modality, getattr(self, f"raw_{modality}")[entity_ids]))

    def project_query(self, modality: str, raw: Tensor) -> Tensor:
        """A query's raw encoder features ``[n, d]`` to the entity-vector space ``[n, dim]``."""
        if modality not in self.modalities:
            raise ValueError(f"this model was trained with modalities {self.modalities}: it cannot embed a "
                             f"{modality} query (train with --modalities including {modality})")
        raw = torch.as_tensor(raw, dtype=torch.float32, device=getattr(self, f"mean_{modality}").device)
        return self.align[modality](self._standardise(modality, raw))

    def extra_repr(self) -> str:
        split = self.fusion == "split"
        share = f", modality positions {int(self.modality_positions.sum())}/{self.dim}" if split else ""
        return (f"modalities={self.modality_dims}, structural={self.structure is not None}, "
                f"fusion={self.fusion!r}{share}")


def modality_positions(dim: int, share: float) -> Tensor:
    """``[dim]`` mask of the positions a ``"split"`` fusion gives the modalities: ``share`` of the
    width, taken as the last positions of each half, so that a complex decoder (real parts in the
    first half, imaginary parts in the second) gets whole complex coordinates on either side."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"modality_share must be in (0, 1], got {share}")
    half = dim // 2
    width = min(half, max(1, round(share * half))) if half else 0
    mask = torch.zeros(dim, dtype=torch.bool)
    if share >= 1.0 or not half:
        mask[:] = True
        return mask
    mask[half - width:half] = True
    mask[dim - width:] = True
    return mask
