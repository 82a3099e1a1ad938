"""Encoders: entity vectors from entity features and the graph (R-GCN), and the frozen text and
image encoders of multimodal entities (MiniLM, EfficientNet-Lite0, CLIP), built by name with
:mod:`trainer.encoders.factory`."""

from trainer.encoders.features import EmbeddingFeatures, EntityFeatures
from trainer.encoders.rgcn import RGCNEncoder

__all__ = ["EmbeddingFeatures", "EntityFeatures", "RGCNEncoder"]
