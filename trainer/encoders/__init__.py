"""Encoders: entity vectors from entity features and the graph (R-GCN; CLIP and text later)."""

from trainer.encoders.features import EmbeddingFeatures, EntityFeatures
from trainer.encoders.rgcn import RGCNEncoder

__all__ = ["EmbeddingFeatures", "EntityFeatures", "RGCNEncoder"]
