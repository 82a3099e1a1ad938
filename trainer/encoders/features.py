"""Entity input features: the seam where text and image features plug in.

An :class:`EntityFeatures` module maps entity ids ``[n]`` to input vectors ``[n, dim]``.
The default, :class:`EmbeddingFeatures`, is a free learnable vector per entity (plain
knowledge-graph embedding). A text or image encoder (CLIP, sentence-transformers) becomes
another subclass that looks up precomputed or fine-tuned features by the same ids, and
:class:`~trainer.encoders.rgcn.RGCNEncoder` takes it through its ``features`` argument.
"""

from __future__ import annotations

import math

from torch import Tensor, nn


class EntityFeatures(nn.Module):
    """Base class: ``forward(entity_ids [n]) -> [n, dim]``; ``dim`` is the output width."""

    dim: int
    num_entities: int

    def forward(self, entity_ids: Tensor) -> Tensor:
        raise NotImplementedError


class EmbeddingFeatures(EntityFeatures):
    """One learnable ``dim``-wide vector per entity (``nn.Embedding``).

    Initialised from :math:`\\mathcal{N}(0, 1/\\sqrt{dim})`-scaled normal values, so
    dot-product scores of random vectors start near zero.
    """

    def __init__(self, *, num_entities: int, dim: int) -> None:
        super().__init__()
        self.num_entities, self.dim = num_entities, dim
        self.embedding = nn.Embedding(num_entities, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.embedding.weight, std=1.0 / math.sqrt(self.dim))

    def forward(self, entity_ids: Tensor) -> Tensor:
        return self.embedding(entity_ids)

    @property
    def weight(self) -> Tensor:
        return self.embedding.weight
