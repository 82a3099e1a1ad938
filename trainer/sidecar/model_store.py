"""The model the sidecar serves: one checkpoint in memory, swapped when ``latest`` moves.

``kgstore train`` writes a new checkpoint folder and then re-points the model's ``latest``
symlink atomically (``KgstoreHome.latest_link(model)``). A store that follows ``latest``
looks at the link at most once every ``check_interval`` seconds, on a request, and loads
the new checkpoint in a background thread while every request, the one that noticed
included, keeps using the old one: the sidecar's handlers run on the event loop, so a
load in a request would stall the worker for as long as the checkpoint takes to read.
The swap is one attribute assignment: a request that already holds a
:class:`LoadedModel` finishes on it. A checkpoint that fails to load is logged and
skipped; the old model keeps serving. Only the very first model, when there is nothing
to serve yet, is loaded in the request.

A store given an explicit checkpoint folder serves it until the process ends.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from trainer.checkpoint import Checkpoint
from trainer.model import KGModel
from trainer.sidecar.known import KnownFacts
from trainer.sidecar.topk import TopK

log = logging.getLogger("kgstore.sidecar")


class NoModel(Exception):
    """No checkpoint is loaded (the app answers 503 with this message)."""


@dataclass
class LoadedModel:
    """One checkpoint ready to answer: model, entity vectors, vocabularies, known facts."""

    name: str
    checkpoint: Path
    decoder: str
    dim: int
    entity_keys: list[str]
    relation_names: list[str]
    model: KGModel
    entities: torch.Tensor  # model.entity_vectors(), [E, dim]
    topk: TopK
    known: KnownFacts
    entity_ids: dict[str, int] = field(init=False)
    relation_ids: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.entity_ids = {key: i for i, key in enumerate(self.entity_keys)}
        self.relation_ids = {name: i for i, name in enumerate(self.relation_names)}

    @property
    def version(self) -> str:
        """The checkpoint folder's name (its UTC stamp for ``kgstore train`` checkpoints)."""
        return self.checkpoint.name

    @property
    def num_relations(self) -> int:
        return len(self.relation_names)

    @torch.no_grad()
    def score(self, head: np.ndarray, relation: np.ndarray, tail: np.ndarray) -> list[float]:
        """The decoder's scores of id triples ``(head, relation, tail)`` (``KGModel.score``)."""
        device = self.entities.device
        ids = [torch.as_tensor(a, dtype=torch.long, device=device) for a in (head, relation, tail)]
        return self.model.score(*ids, entities=self.entities).float().cpu().tolist()

    def predict(self, entity: np.ndarray, relation: np.ndarray, *, k: int,
                filter_known: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        """Top-``k`` ``(answer ids, scores)`` per query; relation ``r + R`` asks for heads."""
        exclude = self.known.answers(entity, relation) if filter_known else None
        return self.topk.search(torch.as_tensor(entity, dtype=torch.long),
                                torch.as_tensor(relation, dtype=torch.long), k, exclude=exclude)


def load_model(checkpoint: Path, *, name: str, index: str = "exact", device: str = "cpu") -> LoadedModel:
    """Load ``checkpoint`` (a folder) for serving; ``name`` is the model name it answers as."""
    checkpoint = Path(checkpoint).resolve()
    saved = Checkpoint(checkpoint)
    model, config, vocab = saved.load_model(device=device), saved.read_config(), saved.read_vocab()
    with torch.no_grad():
        entities = model.entity_vectors()
    known = KnownFacts.load(saved, num_relations=len(vocab["relation_names"]))
    if not known.complete:
        log.warning("%s has no known.npy (trained by an older kgstore): filter_known drops training "
                    "facts only, not validation or test facts", checkpoint)
    return LoadedModel(name=name, checkpoint=checkpoint, decoder=config.decoder, dim=config.dim,
                       entity_keys=list(vocab["entity_keys"]), relation_names=list(vocab["relation_names"]),
                       model=model, entities=entities, topk=TopK(model, entities, index=index), known=known)


class ModelStore:
    """Hands out the current :class:`LoadedModel`, following ``latest`` unless pinned.

    Args:
        name: the model name (``kgstore train --model NAME``).
        link: the model's ``latest`` link to follow (``KgstoreHome.latest_link(name)``).
        checkpoint: serve this folder instead (never reloaded).
        index: FAISS index kind (``exact`` or ``hnsw``).
        device: torch device of the model (FAISS search stays on the CPU).
        check_interval: seconds between looks at ``latest``.
    """

    def __init__(self, *, name: str, link: Path | None = None, checkpoint: Path | None = None,
                 index: str = "exact", device: str = "cpu", check_interval: float = 1.0) -> None:
        if (link is None) == (checkpoint is None):
            raise ValueError("give exactly one of link (follow the model's latest link) and checkpoint "
                             "(a fixed folder)")
        self.name, self.index, self.device, self.check_interval = name, index, device, check_interval
        self.link = None if link is None else Path(link)
        self.pinned = None if checkpoint is None else Path(checkpoint)
        self._lock = threading.Lock()
        self._next_check = 0.0
        self._failed: Path | None = None
        self._loading: threading.Thread | None = None
        self._loaded: LoadedModel | None = None
        if checkpoint is not None:
            self._loaded = load_model(checkpoint, name=name, index=index, device=device)
        else:
            target = self._target()
            if target is not None:
                self._loaded = load_model(target, name=name, index=index, device=device)
            self._next_check = time.monotonic() + check_interval

    def spec(self) -> dict[str, object]:
        """The arguments that build an equal store in another process (``--workers``)."""
        return {"name": self.name, "link": None if self.link is None else str(self.link),
                "checkpoint": None if self.pinned is None else str(self.pinned), "index": self.index,
                "device": self.device, "check_interval": self.check_interval}

    @classmethod
    def from_spec(cls, spec: dict[str, object]) -> ModelStore:
        return cls(**spec)  # type: ignore[arg-type]

    def current(self) -> LoadedModel:
        """The model to answer this request with; raises :class:`NoModel` when there is none."""
        if self.link is not None and time.monotonic() >= self._next_check:
            self._refresh()
        loaded = self._loaded
        if loaded is None:
            raise NoModel(f"model {self.name!r} has no checkpoint at {self.link}; "
                          f"train one first: kgstore train --model {self.name}")
        return loaded

    def _target(self) -> Path | None:
        return self.link.resolve() if self.link is not None and self.link.exists() else None

    def _refresh(self) -> None:
        # Blocking only while nothing is loaded; otherwise one request looks, the rest go on.
        if not self._lock.acquire(blocking=self._loaded is None):
            return
        try:
            if time.monotonic() < self._next_check:  # another request just looked
                return
            target = self._target()
            current = None if self._loaded is None else self._loaded.checkpoint
            busy = self._loading is not None and self._loading.is_alive()
            if target is not None and target != current and target != self._failed and not busy:
                if self._loaded is None:
                    self._load(target)
                else:
                    self._loading = threading.Thread(target=self._load, args=(target,), daemon=True,
                                                     name="kgstore-sidecar-reload")
                    self._loading.start()
            self._next_check = time.monotonic() + self.check_interval
        finally:
            self._lock.release()

    def _load(self, target: Path) -> None:
        current = None if self._loaded is None else self._loaded.checkpoint
        try:
            self._loaded = load_model(target, name=self.name, index=self.index, device=self.device)
            log.info("now serving %s (%d entities)", target, len(self._loaded.entity_keys))
        except Exception:  # noqa: BLE001 - a broken checkpoint must not take the service down
            log.exception("could not load %s; still serving %s", target, current)
            self._failed = target

    def wait_for_reload(self, timeout: float | None = None) -> None:
        """Wait until a checkpoint being loaded in the background is in place (or failed)."""
        loading = self._loading
        if loading is not None:
            loading.join(timeout)
