"""A generator's checkpoint folder: the one module that writes and reads it.

``<home>/models/<model>/generators/<kind>/<UTC time>/`` (``latest`` beside it)::

    generator.json   kind, format, config, the KG checkpoint it was trained on (path and
                     version), vector width, held-out entity keys, training log summary
    weights.pt       the trained parameters only (text: projection and LoRA adapters;
                     image: the EMA weights of the UNet and its condition head)
    entities.jsonl   text: key, name, verbalised facts and description of every entity
    arrays.npz       image: each entity's key and condition features (text feature included)
    loss.json        the training loss per step; curves.png plots it
    samples.png      image: generated vs real images of a few held-out entities
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from trainer.generators.text import EntityText

FORMAT = 1
META = "generator.json"
WEIGHTS = "weights.pt"
ENTITIES = "entities.jsonl"
ARRAYS = "arrays.npz"
LOSS = "loss.json"
CURVES = "curves.png"
SAMPLES = "samples.png"


class GeneratorCheckpoint:
    """One generator run's folder."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    @classmethod
    def new(cls, home: Any, model: str, kind: str) -> GeneratorCheckpoint:
        """A fresh, not yet existing run folder of ``model``'s ``kind`` generator."""
        folder = cls(home.new_generator_dir(model, kind))
        while folder.folder.exists():  # stamps have one-second resolution
            time.sleep(0.2)
            folder = cls(home.new_generator_dir(model, kind))
        return folder

    @property
    def name(self) -> str:
        return self.folder.name

    def _require(self, name: str) -> Path:
        path = self.folder / name
        if not path.is_file():
            kind = self.folder.parent.name if self.folder.parent.name in ("text", "image") else "text|image"
            raise FileNotFoundError(f"{self.folder} is not a complete kgstore generator checkpoint: {name} is missing "
                                    f"(train one with `kgstore generators train {kind}`)")
        return path

    def save(self, *, kind: str, config: dict[str, Any], kg_checkpoint: Path, vector_dim: int,
             heldout: list[str], state: dict[str, Any], log: dict[str, Any],
             entities: list[EntityText] | None = None, arrays: dict[str, np.ndarray] | None = None,
             loss_name: str = "cross-entropy") -> None:
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(state, self.folder / WEIGHTS)
        if entities is not None:
            with (self.folder / ENTITIES).open("w") as out:
                for entity in entities:
                    out.write(json.dumps(asdict(entity), ensure_ascii=False) + "\n")
        if arrays is not None:
            np.savez(self.folder / ARRAYS, **arrays)
        (self.folder / LOSS).write_text(json.dumps({"steps": log.get("steps", []), "loss": log.get("losses", [])}))
        meta = {"kind": kind, "format": FORMAT, "config": config,
                "kg_checkpoint": str(Path(kg_checkpoint).resolve()), "kg_version": Path(kg_checkpoint).resolve().name,
                "vector_dim": vector_dim, "heldout": heldout,
                "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "training": {k: v for k, v in log.items() if k not in ("steps", "losses")}}
        (self.folder / META).write_text(json.dumps(meta, indent=2) + "\n")
        self._plot(log.get("steps", []), log.get("losses", []), kind=kind, loss_name=loss_name)

    def read_meta(self) -> dict[str, Any]:
        meta = json.loads(self._require(META).read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{self.folder}: generator format {meta.get('format')} is not {FORMAT}; train it again")
        return meta

    def read_entities(self) -> list[EntityText]:
        with self._require(ENTITIES).open() as lines:
            return [EntityText(**json.loads(line)) for line in lines if line.strip()]

    def read_arrays(self) -> dict[str, np.ndarray]:
        with np.load(self._require(ARRAYS), allow_pickle=False) as arrays:
            return {name: arrays[name] for name in arrays.files}

    def read_loss(self) -> dict[str, list]:
        """``{"steps": [...], "loss": [...]}``: the training loss per step."""
        return json.loads(self._require(LOSS).read_text())

    def read_weights(self) -> dict[str, Any]:
        import torch

        return torch.load(self._require(WEIGHTS), map_location="cpu", weights_only=True)

    @property
    def samples(self) -> Path:
        return self.folder / SAMPLES

    def mark_latest(self, link: Path) -> None:
        from trainer.checkpoint import Checkpoint

        Checkpoint(self.folder).mark_latest(link)

    def _plot(self, steps: list[int], losses: list[float], *, kind: str, loss_name: str) -> None:
        if not steps:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(steps, losses, alpha=0.35, label="loss per step")
        window = max(1, len(losses) // 20)
        if window > 1:
            smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1:], smooth, label=f"mean of {window}")
        ax.set_xlabel("step")
        ax.set_ylabel(loss_name)
        ax.set_title(f"{kind} generator training loss")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(self.folder / CURVES)
        plt.close(fig)
