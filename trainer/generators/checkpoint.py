"""A generator's checkpoint folder: the one module that writes and reads it.

``<home>/models/<model>/generators/<kind>/<UTC time>/`` (``latest`` beside it)::

    generator.json   kind, format, config, the KG checkpoint it was trained on (path and
                     version), vector width, held-out entity keys, training log summary
    weights.pt       the trained parameters only (projection, LoRA adapters)
    entities.jsonl   key, name, verbalised facts and description of every entity
    loss.json        the training loss per step; curves.png plots it
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from trainer.generators.text import EntityText, TextGeneratorConfig

FORMAT = 1
META = "generator.json"
WEIGHTS = "weights.pt"
ENTITIES = "entities.jsonl"
LOSS = "loss.json"
CURVES = "curves.png"


class GeneratorCheckpoint:
    """One generator run's folder."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    @property
    def name(self) -> str:
        return self.folder.name

    def _require(self, name: str) -> Path:
        path = self.folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{self.folder} is not a complete kgstore generator checkpoint: {name} is missing "
                                    "(train one with `kgstore generators train text`)")
        return path

    def save(self, *, kind: str, config: TextGeneratorConfig, kg_checkpoint: Path, vector_dim: int,
             heldout: list[str], entities: list[EntityText], state: dict[str, Any], log: dict[str, Any]) -> None:
        import torch

        self.folder.mkdir(parents=True, exist_ok=True)
        torch.save(state, self.folder / WEIGHTS)
        with (self.folder / ENTITIES).open("w") as out:
            for entity in entities:
                out.write(json.dumps(asdict(entity), ensure_ascii=False) + "\n")
        (self.folder / LOSS).write_text(json.dumps({"steps": log.get("steps", []), "loss": log.get("losses", [])}))
        meta = {"kind": kind, "format": FORMAT, "config": config.to_dict(),
                "kg_checkpoint": str(Path(kg_checkpoint).resolve()), "kg_version": Path(kg_checkpoint).resolve().name,
                "vector_dim": vector_dim, "heldout": heldout,
                "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "training": {k: v for k, v in log.items() if k not in ("steps", "losses")}}
        (self.folder / META).write_text(json.dumps(meta, indent=2) + "\n")
        self._plot(log.get("steps", []), log.get("losses", []))

    def read_meta(self) -> dict[str, Any]:
        meta = json.loads(self._require(META).read_text())
        if meta.get("format") != FORMAT:
            raise ValueError(f"{self.folder}: generator format {meta.get('format')} is not {FORMAT}; train it again")
        return meta

    def read_config(self) -> TextGeneratorConfig:
        return TextGeneratorConfig(**self.read_meta()["config"])

    def read_entities(self) -> list[EntityText]:
        with self._require(ENTITIES).open() as lines:
            return [EntityText(**json.loads(line)) for line in lines if line.strip()]

    def read_weights(self) -> dict[str, Any]:
        import torch

        return torch.load(self._require(WEIGHTS), map_location="cpu", weights_only=True)

    def mark_latest(self, link: Path) -> None:
        from trainer.checkpoint import Checkpoint

        Checkpoint(self.folder).mark_latest(link)

    def _plot(self, steps: list[int], losses: list[float]) -> None:
        if not steps:
            return
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np

        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot(steps, losses, alpha=0.35, label="loss per step")
        window = max(1, len(losses) // 20)
        if window > 1:
            smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
            ax.plot(steps[window - 1:], smooth, label=f"mean of {window}")
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy")
        ax.set_title("text generator training loss")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(self.folder / CURVES)
        plt.close(fig)
