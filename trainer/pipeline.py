"""The `kgstore train` job: snapshot from Neo4j → train → checkpoint → vectors back in Neo4j.

The CLI calls these functions (and only these), so a Python user gets the same job with
``trainer.pipeline.train_model(kgstore.connect(), model="movies")``.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neo4j.exceptions import DriverError, Neo4jError

from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome
from kgstore.writeback import WriteBackResult, check_model_name, check_similarity, write_vectors
from trainer.checkpoint import Checkpoint
from trainer.config import TrainConfig
from trainer.export import load_or_export
from trainer.recipe import AUTO, ChosenRecipe, GraphStats, apply_recipe, default_device
from trainer.snapshot import Snapshot
from trainer.train import TrainResult, train


@dataclass
class TrainJob:
    snapshot: Snapshot
    result: TrainResult
    write_back: WriteBackResult | None
    recipe: ChosenRecipe | None = None


def train_model(graph: Graph | None, *, home: KgstoreHome, model: str = "default",
                config: TrainConfig | None = None, explicit: Collection[str] | None = None, recipe: str = AUTO,
                snapshot: Path | None = None, namespaces: list[str] | None = None, refresh: bool = False,
                resume: Path | None = None, write_back: bool = True, similarity: str = "cosine",
                progress: bool = True, nproc: int = 1, warm_start: bool = False) -> TrainJob:
    """Train ``model`` on the graph (or a snapshot folder) and write its vectors back.

    The run gets a new checkpoint folder in the home (``resume`` continues one instead),
    and the model's ``latest`` link points at it once training has finished. ``nproc > 1``
    trains with that many DDP processes (:mod:`trainer.distributed`); the export before and
    the write-back after run here, once.

    Fields nobody set come from the recipe :mod:`trainer.recipe` chooses for the graph and
    the device (``recipe``: ``"auto"``, a recipe's name, or ``"none"`` for the plain
    TrainConfig defaults); which one is said in one line on stderr and kept in
    ``TrainJob.recipe``. ``explicit`` names the fields of ``config`` the user set (the CLI's
    typed flags and ``--config`` file fields); a ``config`` given without ``explicit`` is
    used as it is, and no ``config`` takes the whole recipe.

    ``warm_start`` begins from the model's latest checkpoint (:mod:`trainer.warm_start`): its
    configuration, with the fields in ``explicit`` changed, instead of a recipe.
    """
    check_model_name(model)
    if write_back:
        check_similarity(similarity)  # found out now, not after hours of training
    data = load_or_export(graph, home, snapshot=snapshot, namespaces=namespaces, refresh=refresh,
                          progress=progress)
    if len(data.split("train")) == 0:
        raise KgstoreError("the graph has no training triples",
                           hint="Import a dataset first: `kgstore sync NAME` (see `kgstore datasets list`).")
    chosen = None
    previous = None
    if warm_start:
        previous = home.latest_checkpoint(model)
        if previous is None:
            raise KgstoreError(f"model {model!r} has no checkpoint to warm-start from",
                               hint=f"Train it once without --warm-start: `kgstore train --model {model}`.")
        base = Checkpoint(previous).read_config()
        for name in explicit or ():
            setattr(base, name, getattr(config, name))
        config = base
    elif config is None or explicit is not None:
        config, chosen = apply_recipe(config or TrainConfig(), explicit or (), GraphStats.of(data),
                                      device=default_device(), recipe=recipe)
        if chosen is not None and progress:
            print(chosen.line(), file=sys.stderr, flush=True)
    checkpoint = Path(resume) if resume is not None else home.new_checkpoint_dir(model)
    if nproc > 1:
        if previous is not None:
            raise KgstoreError("--warm-start with --nproc is not supported yet", hint="Warm-start on one process.")
        from trainer.distributed import launch

        result = launch(data, config, checkpoint_dir=checkpoint, nproc=nproc, resume=resume is not None,
                        progress=progress)
    else:
        result = train(data, config, checkpoint_dir=checkpoint, resume=resume is not None, progress=progress,
                       warm_start=previous)
    Checkpoint(checkpoint).mark_latest(home.latest_link(model))
    written = None
    if write_back:
        if graph is None:
            raise ValueError("write-back needs a database connection")
        try:
            written = write_checkpoint_vectors(graph, Path(checkpoint), model=model, similarity=similarity,
                                               metrics=result.metrics)
        except (KgstoreError, Neo4jError, DriverError) as error:
            # Hours of training are in the checkpoint: say so, and how to write it back later.
            what = error.message if isinstance(error, KgstoreError) else f"{type(error).__name__}: {error}"
            hint = error.hint if isinstance(error, KgstoreError) else None
            raise KgstoreError(
                f"training finished, but writing its vectors back failed: {what}",
                hint="\n".join(filter(None, [hint, f"The trained model is saved in {checkpoint}; write it back "
                                                    f"later with `kgstore write-back {checkpoint} --model {model}`."])),
            ) from error
    return TrainJob(data, result, written, chosen)


def write_checkpoint_vectors(graph: Graph, checkpoint: Path, *, model: str, similarity: str = "cosine",
                             metrics: dict[str, Any] | None = None) -> WriteBackResult:
    """Write a checkpoint's entity vectors into Neo4j as a new version of ``model``."""
    from trainer.modalities import modality_vectors

    saved = Checkpoint(checkpoint)
    vocab, config = saved.read_vocab(), saved.read_config()
    if metrics is None:
        metrics = saved.read_metrics()
    test = (metrics or {}).get("test", {})
    meta = {"decoder": config.decoder, "dim": config.dim, "layers": config.num_layers,
            "modalities": ",".join(config.modalities) or None,
            "checkpoint": str(checkpoint.resolve()), "test_mrr": test.get("mrr"),
            "test_hits_at_10": test.get("hits@10"), "fingerprint": vocab.get("fingerprint")}
    keys = vocab["entity_keys"]
    by_modality = {modality: ([keys[i] for i in ids.tolist()], vectors)
                   for modality, (ids, vectors) in modality_vectors(checkpoint).items()}
    return write_vectors(graph, model, keys, saved.read_entity_vectors(), similarity=similarity, metadata=meta,
                         modality_vectors=by_modality)


def query_vector(graph: Graph, home: KgstoreHome, model: str, *, text: str | None = None,
                 image: Path | None = None) -> list[float]:
    """A text or image query as a vector in ``model``'s entity space (for its vector index).

    Uses the checkpoint whose vectors the database holds (the ``KgModel`` node's
    ``meta_checkpoint``), else the model's latest checkpoint; the query goes through that
    checkpoint's encoder and alignment head (:func:`trainer.modalities.embed_query`).
    """
    from trainer.encoders.image import ImageFileError
    from trainer.modalities import embed_query

    rows = graph.query("MATCH (m:KgModel {id: $model}) RETURN m.meta_checkpoint AS checkpoint", {"model": model})
    checkpoint = Path(rows[0]["checkpoint"]) if rows and rows[0]["checkpoint"] else home.latest_checkpoint(model)
    if checkpoint is None or not checkpoint.is_dir():
        raise KgstoreError(f"model {model!r} has no checkpoint on this machine to encode the query with"
                           + (f" ({checkpoint} is gone)" if checkpoint is not None else ""),
                           hint="Train it here: `kgstore train --model NAME --modalities text,image`.")
    try:
        return embed_query(checkpoint, text=text, image=image).tolist()
    except ImageFileError as exc:
        raise KgstoreError(str(exc),
                           hint="Give a JPEG/PNG/GIF/WebP file: `kgstore nearest --image poster.jpg`.") from exc
    except (ValueError, ImportError, FileNotFoundError) as exc:
        raise KgstoreError(str(exc)) from exc
