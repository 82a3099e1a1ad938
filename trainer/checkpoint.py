"""The checkpoint folder: the one module that writes and reads it.

A training run (:func:`trainer.train.train`) fills one folder::

    config.toml          the TrainConfig (older checkpoints: config.json, still read)
    vocab.json           entity_keys, relation_names, the snapshot's fingerprint
    graph.npy            int64 [N, 3] training triples (the model's message graph)
    known.npy            int32 [M, 3] triples of every split (the sidecar's filter_known)
    modalities.json      multimodal checkpoints only: encoders, feature widths, coverage
    model.pt             the best weights (state_dict)
    training_state.pt    optimizer, epoch, RNG and history: what a resumed run continues from
    entity_vectors.npy   float32 [E, dim]; row i is vocab.json's entity_keys[i]
    metrics.json         per-epoch loss, validation MRR, test metrics (when the run finished)
    curves.png           the training curves in one figure (loss, validation MRR, alignment loss)
    loss.png, mrr.png    the loss and validation MRR curves alone
    features/            text/image encoder features, when the snapshot has no folder to cache them in

Everything else (training, write-back, evaluation, the sidecar, text/image queries) goes
through :class:`Checkpoint`; where checkpoints live in a kgstore home
(``models/<model>/<UTC time>`` and the ``latest`` link) is :class:`kgstore.home.KgstoreHome`'s.
torch is imported only by the methods that read or write weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from trainer.config import TrainConfig

CONFIG = "config.toml"
LEGACY_CONFIG = "config.json"
VOCAB = "vocab.json"
GRAPH = "graph.npy"
KNOWN = "known.npy"
MODALITIES = "modalities.json"
WEIGHTS = "model.pt"
TRAINING_STATE = "training_state.pt"
ENTITY_VECTORS = "entity_vectors.npy"
METRICS = "metrics.json"
FEATURES = "features"
PLOTS = {"loss.png": ("epochs", "loss", "training loss"), "mrr.png": ("validation", "mrr", "validation filtered MRR")}
CURVES = "curves.png"


class Checkpoint:
    """One checkpoint folder: ``save_*`` writes a part, ``read_*`` reads it back.

    A part that a complete checkpoint must have and that is missing is a
    ``FileNotFoundError`` that names the folder and the file.
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    @property
    def name(self) -> str:
        """The folder's name: the UTC stamp (the model version) of a ``kgstore train`` checkpoint."""
        return self.folder.name

    def __repr__(self) -> str:
        return f"Checkpoint({str(self.folder)!r})"

    def _require(self, name: str) -> Path:
        path = self.folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{self.folder} is not a complete kgstore checkpoint: {name} is missing "
                                    "(train into it with `kgstore train` or trainer.train.train)")
        return path

    def _write_json(self, name: str, value: Any, *, indent: int | None = None) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_text(json.dumps(value, indent=indent) + "\n")

    # -- config ---------------------------------------------------------------------------
    def save_config(self, config: TrainConfig) -> None:
        """``config.toml`` (an older ``config.json`` beside it is removed: one config per folder)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        config.save(self.folder / CONFIG)
        (self.folder / LEGACY_CONFIG).unlink(missing_ok=True)

    def read_config(self) -> TrainConfig:
        """The run's :class:`TrainConfig` from ``config.toml``, or ``config.json`` of an older checkpoint."""
        if (self.folder / CONFIG).is_file() or not (self.folder / LEGACY_CONFIG).is_file():
            return TrainConfig.from_file(self._require(CONFIG))
        return TrainConfig.from_file(self.folder / LEGACY_CONFIG)

    @property
    def features_dir(self) -> Path:
        """The encoder feature cache of a run whose snapshot has no folder (:mod:`trainer.feature_cache`)."""
        return self.folder / FEATURES

    # -- vocabulary and graph ----------------------------------------------------------------
    def save_vocab(self, entity_keys: list[str], relation_names: list[str], *, fingerprint: str | None) -> None:
        self._write_json(VOCAB, {"entity_keys": list(entity_keys), "relation_names": list(relation_names),
                                 "fingerprint": fingerprint})

    def read_vocab(self) -> dict[str, Any]:
        """``{"entity_keys": [...], "relation_names": [...], "fingerprint": ...}``."""
        return json.loads(self._require(VOCAB).read_text())

    def save_graph(self, train_triples: np.ndarray) -> None:
        """``graph.npy``: the training triples, the model's message graph."""
        self.folder.mkdir(parents=True, exist_ok=True)
        np.save(self.folder / GRAPH, np.asarray(train_triples, dtype=np.int64))

    def read_graph(self) -> np.ndarray:
        return np.load(self._require(GRAPH))

    def save_known(self, triples: np.ndarray) -> None:
        """``known.npy``: every split's triples, so the sidecar's filter_known drops all facts."""
        self.folder.mkdir(parents=True, exist_ok=True)
        np.save(self.folder / KNOWN, np.asarray(triples, dtype=np.int32))

    def read_known(self) -> tuple[np.ndarray, bool]:
        """``(triples, complete)``: ``known.npy`` (complete), else the training triples of an older checkpoint."""
        if (self.folder / KNOWN).is_file():
            return np.load(self.folder / KNOWN), True
        return self.read_graph(), False

    # -- modalities ---------------------------------------------------------------------------
    def save_modalities(self, manifest: dict[str, Any]) -> None:
        """``modalities.json`` (built by :func:`trainer.modalities.manifest`)."""
        self._write_json(MODALITIES, manifest, indent=2)

    def read_modalities(self) -> dict[str, Any] | None:
        """The ``modalities.json`` manifest, or None for a structure-only checkpoint."""
        path = self.folder / MODALITIES
        return json.loads(path.read_text()) if path.is_file() else None

    def modality_dims(self) -> dict[str, int] | None:
        """The raw feature width of each modality the model was trained with (None: structure only)."""
        manifest = self.read_modalities()
        return {m: int(v["dim"]) for m, v in manifest["modalities"].items()} if manifest else None

    # -- weights and training state --------------------------------------------------------------
    def save_weights(self, state_dict: dict[str, Any]) -> None:
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(state_dict, self.folder / WEIGHTS)

    def read_weights(self, *, device: str = "cpu") -> dict[str, Any]:
        import torch

        return torch.load(self._require(WEIGHTS), map_location=device, weights_only=True)

    def save_training_state(self, state: dict[str, Any]) -> None:
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(state, self.folder / TRAINING_STATE)

    def read_training_state(self, *, device: str = "cpu") -> dict[str, Any]:
        """What ``resume=True`` continues from (optimizer, epoch, RNG states, history)."""
        import torch

        path = self.folder / TRAINING_STATE
        if not path.is_file():
            raise FileNotFoundError(f"cannot resume: {path} does not exist (train without resume=True first)")
        return torch.load(path, map_location=device, weights_only=False)

    def load_model(self, *, device: str = "cpu") -> Any:
        """The trained :class:`~trainer.model.KGModel` (best weights, message graph set) in eval mode."""
        from trainer.model import KGModel

        config, vocab = self.read_config(), self.read_vocab()
        model = KGModel.from_config(config, num_entities=len(vocab["entity_keys"]),
                                    num_relations=len(vocab["relation_names"]), modality_dims=self.modality_dims())
        model.load_state_dict(self.read_weights(device=device))
        model.set_graph(self.read_graph())
        return model.to(device).eval()

    # -- results --------------------------------------------------------------------------------------
    def save_entity_vectors(self, vectors: np.ndarray) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        np.save(self.folder / ENTITY_VECTORS, np.asarray(vectors, dtype=np.float32))

    def read_entity_vectors(self) -> np.ndarray:
        """``float32 [E, dim]``; row ``i`` is the vocabulary's ``entity_keys[i]``."""
        return np.load(self._require(ENTITY_VECTORS))

    def save_metrics(self, metrics: dict[str, Any]) -> None:
        self._write_json(METRICS, metrics, indent=2)

    def read_metrics(self) -> dict[str, Any]:
        """``metrics.json``; empty while a run has not finished."""
        path = self.folder / METRICS
        return json.loads(path.read_text()) if path.is_file() else {}

    @property
    def curves_path(self) -> Path:
        """``curves.png``: the run's training curves (it exists once the run has finished)."""
        return self.folder / CURVES

    def save_plots(self, metrics: dict[str, Any]) -> None:
        """``curves.png`` (loss, validation MRR and, multimodal, alignment loss per epoch), and
        ``loss.png`` and ``mrr.png`` with one series each; :mod:`trainer.plots` draws them."""
        from trainer.plots import save_series, save_training_curves

        save_training_curves(metrics, self.curves_path, title=f"{self.folder.parent.name} / {self.name}")
        for name, (series, key, label) in PLOTS.items():
            save_series(metrics[series], key, label, self.folder / name)

    # -- the model's latest link ---------------------------------------------------------------------
    def mark_latest(self, link: Path) -> None:
        """Point ``link`` (``KgstoreHome.latest_link(model)``) at this folder, atomically.

        The link is relative when it sits beside the folder (the home's layout), so a home
        can be moved; the sidecar never sees a missing or half-written link.
        """
        link = Path(link)
        link.parent.mkdir(parents=True, exist_ok=True)
        folder = self.folder.resolve()
        target = Path(folder.name) if folder.parent == link.parent.resolve() else folder
        tmp = link.with_name(f".{link.name}-{os.getpid()}")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target)
        os.replace(tmp, link)


def load_checkpoint(folder: Path | str, *, device: str = "cpu") -> tuple[Any, TrainConfig, dict[str, Any],
                                                                         dict[str, Any]]:
    """``(model, config, vocab, metrics)`` from a checkpoint folder; the model is in eval mode.

    ``vocab`` has ``entity_keys`` and ``relation_names``; ``metrics`` is empty while a run
    has not finished. A multimodal checkpoint loads with its projection heads and cached
    features; a structure-only one as before.
    """
    checkpoint = Checkpoint(folder)
    model = checkpoint.load_model(device=device)
    return model, checkpoint.read_config(), checkpoint.read_vocab(), checkpoint.read_metrics()


def entity_vectors(folder: Path | str) -> np.ndarray:
    """The trained entity vectors ``float32 [E, dim]``; row ``i`` is the vocabulary's ``entity_keys[i]``."""
    return Checkpoint(folder).read_entity_vectors()
