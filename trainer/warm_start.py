"""Warm start: a new model over a changed graph begins from an older checkpoint's weights.

After a sync adds entities, relations or facts, retraining from scratch throws away what the
model knew. A warm start builds the model for the *new* vocabulary, then copies the old
checkpoint's weights in by key and by relation name:

- **entity tables** (the structural embedding, ``encoder.features.*`` with one row per
  entity): row of key ``k`` <- the old row of ``k``; new entities keep their fresh
  initialisation;
- **relation tables** (the decoder's relation embeddings, an R-GCN layer's per-relation
  weights or basis coefficients; ``R`` rows, or ``2R`` with inverse relations ``r + R``):
  by relation name, the same for the inverse half; new relations keep their fresh rows;
- **everything else** (R-GCN bases, the fusion heads, biases) is copied as it is.

The model's shape must not change (decoder, width, layers, modalities: the same fields a
resume must keep). Buffers (modality features, degree masks) come from the new snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from trainer.checkpoint import Checkpoint
from trainer.config import STRUCTURAL, TrainConfig


@dataclass
class WarmStart:
    """What a warm start carried over, for its one-line report."""

    source: Path
    entities_kept: int
    entities_new: int
    relations_kept: int
    relations_new: int

    def line(self) -> str:
        return (f"warm start from {self.source}: {self.entities_kept:,} entities and {self.relations_kept:,} "
                f"relations kept, {self.entities_new:,} new entities and {self.relations_new:,} new relations "
                "initialised")


def _index(old: list[str], new: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(new_rows, old_rows)`` of the names in both lists."""
    where = {name: i for i, name in enumerate(old)}
    pairs = [(i, where[name]) for i, name in enumerate(new) if name in where]
    if not pairs:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    new_rows, old_rows = zip(*pairs, strict=True)
    return torch.tensor(new_rows), torch.tensor(old_rows)


def _is_relation_table(name: str, config: TrainConfig) -> bool:
    """The decoder's relation embeddings; an R-GCN layer's basis coefficients, or its
    per-relation weights when it has no bases."""
    return name.startswith("decoder.relations.") or (name.startswith("encoder.layers.") and (
        name.endswith(".comp") or (name.endswith(".weight") and not config.num_bases)))


def warm_start(model: nn.Module, config: TrainConfig, folder: Path | str, *, entity_keys: list[str],
               relation_names: list[str]) -> WarmStart:
    """Copy the checkpoint in ``folder`` into ``model`` (built for ``entity_keys``/``relation_names``)."""
    saved = Checkpoint(folder)
    old_config, vocab = saved.read_config(), saved.read_vocab()
    changed = [name for name in STRUCTURAL if getattr(old_config, name) != getattr(config, name)]
    if changed:
        raise ValueError(f"cannot warm-start from {saved.folder}: the config changes the model "
                         f"({', '.join(changed)}); train from scratch, or keep those settings")
    old_state = saved.read_weights(device="cpu")
    old_entities, old_relations = list(vocab["entity_keys"]), list(vocab["relation_names"])
    entity_new, entity_old = _index(old_entities, entity_keys)
    relation_new, relation_old = _index(old_relations, relation_names)
    e_old, r_old, e_new, r_new = len(old_entities), len(old_relations), len(entity_keys), len(relation_names)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name not in old_state:
                raise ValueError(f"cannot warm-start from {saved.folder}: it has no weights for {name}")
            old = old_state[name].to(parameter.device, parameter.dtype)
            shape, old_shape = tuple(parameter.shape), tuple(old.shape)
            if ".features." in name and shape[:1] == (e_new,) and old_shape[:1] == (e_old,):
                parameter[entity_new.to(parameter.device)] = old[entity_old.to(parameter.device)]
            elif _is_relation_table(name, config) and shape[:1] in ((r_new,), (2 * r_new,)) \
                    and old_shape == (shape[0] // r_new * r_old, *shape[1:]):
                halves = shape[0] // r_new  # 2: inverse relations are the second half
                for half in range(halves):
                    parameter[(relation_new + half * r_new).to(parameter.device)] = \
                        old[(relation_old + half * r_old).to(parameter.device)]
            elif shape == old_shape:
                parameter.copy_(old)
            else:
                raise ValueError(f"cannot warm-start from {saved.folder}: {name} is {old_shape} there and "
                                 f"{shape} here")
    return WarmStart(saved.folder, len(entity_new), e_new - len(entity_new), len(relation_new),
                     r_new - len(relation_new))
