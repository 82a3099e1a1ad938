"""Read a checkpoint folder written by :func:`trainer.train.train`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from trainer.config import TrainConfig


def _require(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(f"{folder} is not a complete kgstore checkpoint: {name} is missing "
                                "(train into it with `kgstore train` or trainer.train.train)")
    return path


def load_checkpoint(folder: Path | str, *, device: str = "cpu") -> tuple[Any, TrainConfig, dict[str, Any],
                                                                         dict[str, Any]]:
    """``(model, config, vocab, metrics)`` from a checkpoint folder; the model is in eval mode.

    ``vocab`` has ``entity_keys`` and ``relation_names``; ``metrics`` is ``metrics.json``
    (empty while a run has not finished). A multimodal checkpoint (with ``modalities.json``)
    loads with its projection heads and cached features; a structure-only one as before.
    """
    import torch

    from trainer.modalities import modality_dims
    from trainer.model import KGModel

    folder = Path(folder)
    config = TrainConfig.load(_require(folder, "config.json"))
    vocab = json.loads(_require(folder, "vocab.json").read_text())
    model = KGModel.from_config(config, num_entities=len(vocab["entity_keys"]),
                                num_relations=len(vocab["relation_names"]), modality_dims=modality_dims(folder))
    model.load_state_dict(torch.load(_require(folder, "model.pt"), map_location=device, weights_only=True))
    model.set_graph(np.load(_require(folder, "graph.npy")))
    model.to(device).eval()
    metrics_path = folder / "metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    return model, config, vocab, metrics


def entity_vectors(folder: Path | str) -> np.ndarray:
    """The trained entity vectors ``float32 [E, dim]``; row ``i`` is ``vocab.json``'s ``entity_keys[i]``."""
    return np.load(_require(Path(folder), "entity_vectors.npy"))
