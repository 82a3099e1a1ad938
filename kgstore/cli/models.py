"""Models: ``kgstore train``, ``eval``, ``write-back``, ``serve`` and ``models list|show|drop|gc``.

Training choices come from :class:`trainer.config.TrainConfig`: every ``train`` option is a
field of it (:class:`ConfigOption` reads the field's default there, and choices come from
the library's registries), and ``--config FILE`` takes the same fields from TOML, YAML or
JSON. An option typed on the command line wins over the file, the file over the recipe that
:mod:`trainer.recipe` picks for the graph (``--recipe``), the recipe over the defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kgstore.cli import render
from kgstore.cli.common import (
    CONTEXT,
    RegistryChoice,
    connection_options,
    default_of,
    echo,
    home_of,
    json_option,
    namespaces,
    need_trainer,
    open_graph,
)
from kgstore.errors import KgstoreError

SIMILARITY = RegistryChoice("kgstore.writeback:SIMILARITIES")


class ConfigOption(click.Option):
    """An option that is a ``TrainConfig`` field: its default is the field's, read when needed.

    ``field`` names the field (``--layers`` is ``num_layers``). Reading the default late keeps
    ``import kgstore.cli`` free of the trainer package, and keeps one owner of every default.
    """

    def __init__(self, *args: Any, field: str, **kwargs: Any) -> None:
        kwargs.setdefault("show_default", True)
        super().__init__(*args, **kwargs)
        self.field = field

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        import dataclasses

        from trainer.config import TrainConfig

        field = TrainConfig.__dataclass_fields__[self.field]
        if field.default is not dataclasses.MISSING:
            return field.default
        value = field.default_factory()  # type: ignore[misc]
        return ",".join(map(str, value)) if isinstance(value, list) else value


def config_option(*names: str, field: str, **kwargs: Any):  # noqa: ANN201 - a click decorator
    return click.option(*names, cls=ConfigOption, field=field, **kwargs)


def _parse_modalities(_ctx: click.Context, _param: click.Parameter, value: str | list[str]) -> list[str]:
    if isinstance(value, list):
        return value
    from trainer.config import MODALITIES

    names = [m.strip() for m in (value or "").split(",") if m.strip()]
    bad = [m for m in names if m not in MODALITIES]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)}: use {', '.join(MODALITIES)} or {','.join(MODALITIES)}")
    return names


def _parse_fanout(_ctx: click.Context, _param: click.Parameter, value: str | list[int]) -> list[int]:
    if isinstance(value, list):
        return value
    try:
        fanout = [int(n) for n in str(value).split(",")]
    except ValueError:
        fanout = []
    if not fanout or min(fanout) < 1:
        raise click.BadParameter(f"{value!r}: give neighbours per R-GCN layer as positive numbers, e.g. 10,5")
    return fanout


def _training_config(ctx: click.Context, config_file: Path | None, residual: bool, values: dict[str, Any]):  # noqa: ANN202
    """The TrainConfig of ``kgstore train`` (defaults < ``--config FILE`` < options typed on the command
    line) and the names of the fields the user set: the file's and the typed options' (the recipe fills the rest)."""
    from trainer.config import TrainConfig

    hint = "`kgstore train --help` lists the options; each is a TrainConfig field."
    try:
        fields: dict[str, Any] = TrainConfig.from_file(config_file).to_dict() if config_file else {}
        explicit = set(TrainConfig.file_fields(config_file)) if config_file else set()
    except (ValueError, OSError) as exc:  # unknown fields, bad values, unparseable or unreadable file
        raise KgstoreError(str(exc), hint=hint) from exc
    for param in ctx.command.params:
        if isinstance(param, ConfigOption) and (config_file is None or not default_of(ctx, param.name)):
            value = values[param.name]
            fields[param.field] = str(value) if isinstance(value, Path) else value
            if not default_of(ctx, param.name):
                explicit.add(param.field)
    if residual:
        fields["encoder_kwargs"] = {**fields.get("encoder_kwargs", {}), "residual": True}
        explicit.add("encoder_kwargs")
    if fields.get("encoder_kwargs", {}).get("residual") and not fields.get("num_layers"):
        raise click.UsageError("--residual needs R-GCN layers (--layers 1 or more)")
    try:
        return TrainConfig.from_dict(fields), explicit
    except ValueError as exc:
        raise KgstoreError(str(exc), hint=hint) from exc


@click.command(context_settings=CONTEXT)
@click.option("--model", default="default", show_default=True, help="Model name: vectors go to its property/index.")
@click.option("--dataset", "datasets", multiple=True, metavar="NS",
              help="Train on these dataset namespaces only (repeatable). [default: all]")
@click.option("--snapshot", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Train from this snapshot folder instead of exporting from Neo4j.")
@click.option("--config", "config_file", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="A TrainConfig file (.toml, .yaml or .json; a checkpoint's config.toml works): its fields "
                   "replace the recipe's, options typed here replace its fields.")
@click.option("--recipe", type=RegistryChoice("trainer.recipe:RECIPE_CHOICES"), default="auto", show_default=True,
              help="Fields no option or --config sets: auto = the recipe the graph's size, text, images and the "
                   "device call for (one line says which; the README's table gives the rule), a recipe by name, "
                   "or none = the plain TrainConfig defaults.")
@config_option("--decoder", field="decoder", type=RegistryChoice("trainer.config:DECODER_NAMES"),
               help="Scoring function.")
@config_option("--dim", field="dim", type=click.IntRange(2, 4096), help="Vector width.")
@config_option("--layers", field="num_layers", type=click.IntRange(0, 4), help="R-GCN layers (0 = plain embeddings).")
@click.option("--residual", is_flag=True,
              help="R-GCN layers add their input to their output (x + layer(x)): the messages correct the "
                   "plain embedding instead of rebuilding it (UMLS, 3 seeds: MRR 0.940 on average).")
@config_option("--epochs", field="epochs", type=click.IntRange(1), help="Epoch cap.")
@config_option("--lr", field="lr", type=float, help="Learning rate.")
@config_option("--optimizer", field="optimizer", type=RegistryChoice("trainer.config:OPTIMIZERS"),
               help="Optimiser (adagrad with --lr 0.1 and --regularization is the large-graph recipe).")
@config_option("--batch-size", field="batch_size", type=click.IntRange(1), help="Training rows per step.")
@config_option("--loss", field="loss", type=RegistryChoice("trainer.config:LOSSES"),
               help="1-N softmax cross-entropy, 1-N BCE with label smoothing, or negative sampling with "
                    "self-adversarial weights.")
@config_option("--regularization", field="regularization", type=click.FloatRange(0),
               help="Weight of the N3 penalty on each batch's vectors.")
@config_option("--dropout", field="dropout", type=click.FloatRange(0, 1, max_open=True),
               help="Dropout on the query vector (and between R-GCN layers).")
@config_option("--patience", field="patience", type=click.IntRange(0),
               help="Validations without improvement before stopping early (0 = never).")
@config_option("--max-seconds", field="max_seconds", type=float, help="Wall-clock cap on training.")
@config_option("--device", field="device", help="cpu, cuda or cuda:N (mixed precision on CUDA).")
@config_option("--sampler", field="sampler", type=RegistryChoice("trainer.config:SAMPLERS"),
               help="R-GCN message passing per step: full = over the whole graph, neighbor = over a subgraph "
                    "sampled around the batch (--fanout), auto = full up to 20,000 training triples (when its "
                    "activations fit in 2 GiB), neighbor on larger graphs.")
@config_option("--fanout", field="fanout", metavar="N,N", callback=_parse_fanout,
               help="Neighbours sampled per entity for each R-GCN layer, nearest first (the neighbor sampler); "
                    "layers past the list reuse its last number.")
@click.option("--nproc", type=click.IntRange(1), default=1, show_default=True,
              help="Train with this many PyTorch DDP processes on this machine (torch.distributed.run; gloo on "
                   "CPU, NCCL and one GPU each on CUDA), each on its shard of every batch; rank 0 evaluates and "
                   "checkpoints. Several machines: the README's torchrun form.")
@config_option("--seed", field="seed", type=int, help="Random seed.")
@click.option("--resume", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Continue training this checkpoint folder.")
@click.option("--warm-start", is_flag=True,
              help="Start from the model's latest checkpoint after the graph changed: same configuration (options "
                   "given here change it), old entities and relations keep their weights by key and name, new ones "
                   "are initialised; a new checkpoint folder.")
@click.option("--refresh", is_flag=True, help="Re-export the snapshot even if the graph looks unchanged.")
@click.option("--no-write-back", is_flag=True, help="Keep the vectors in the checkpoint only.")
@click.option("--similarity", type=SIMILARITY, default="cosine", show_default=True,
              help="Similarity of the vector index.")
@config_option("--modalities", field="modalities", metavar="LIST", callback=_parse_modalities, show_default=False,
               help="Fuse and align entity text and/or images: text, image or text,image. [default: none]")
@config_option("--text-encoder", field="text_encoder",
               help="minilm (all-MiniLM-L6-v2, offline), a sentence-transformers folder, or open_clip:MODEL.")
@config_option("--text-checkpoint", field="text_checkpoint",
               type=click.Path(path_type=Path, exists=True, dir_okay=False),
               help="Weights file for an open_clip text encoder.")
@config_option("--image-encoder", field="image_encoder",
               help="efficientnet-lite0 (ImageNet, offline) or open_clip:MODEL (a name or config JSON).")
@config_option("--image-checkpoint", field="image_checkpoint",
               type=click.Path(path_type=Path, exists=True, dir_okay=False),
               help="Weights file for an open_clip image encoder (no model hub is contacted).")
@config_option("--align-weight", field="align_weight", type=click.FloatRange(0),
               help="Weight of the InfoNCE loss aligning entity vectors with their text/images.")
@config_option("--fusion", field="fusion", type=click.Choice(["sum", "split"]),
               help="How text/images join the structural vector: sum (added in every position) or split (they "
                    "own a quarter of the positions, the structure the rest; the large recipe's choice).")
@json_option
@connection_options
@click.pass_context
def train(ctx: click.Context, model: str, datasets: tuple[str, ...], snapshot: Path | None, config_file: Path | None,
          recipe: str, residual: bool, resume: Path | None, refresh: bool, no_write_back: bool, similarity: str,
          as_json: bool, uri: str | None, user: str | None, password: str | None, database: str | None, nproc: int,
          warm_start: bool, **fields: Any) -> None:
    """Train entity vectors on the graph and write them back into a Neo4j vector index.

    Streams the graph from Neo4j into a snapshot (reused while the graph is unchanged),
    picks a recipe for what no option sets (by the graph's size and text, and the device),
    trains a link-prediction model on the train split with early stopping on the valid
    split, reports filtered MRR/Hits@k on the test split, saves a checkpoint in
    <home>/models/MODEL/ and writes the vectors to the :Entity nodes.

    \b
    Examples:
      kgstore train
      kgstore train --dataset fb15k-237 --decoder complex --dim 1000 --device cuda \\
          --optimizer adagrad --lr 0.1 --regularization 0.05 --dropout 0 --batch-size 1000
      kgstore train --config recipe.toml --epochs 50      # a file's fields, one changed
      kgstore train --snapshot snap/ --no-write-back     # on a machine without the database
      kgstore train --layers 2 --sampler neighbor --fanout 10,5 --nproc 2
      kgstore train --modalities text,image              # then: kgstore nearest --text "..."
      kgstore sync more-facts.tsv && kgstore train --warm-start   # continue after the graph grew
    """
    need_trainer()
    from trainer.pipeline import train_model

    config, explicit = _training_config(ctx, config_file, residual, fields)
    needs_db = snapshot is None or not no_write_back
    graph = open_graph(ctx, uri, user, password, database) if needs_db else None
    try:
        job = train_model(graph, home=home_of(ctx), model=model, config=config, explicit=explicit, recipe=recipe,
                          snapshot=snapshot, namespaces=namespaces(datasets), refresh=refresh, resume=resume,
                          write_back=not no_write_back, similarity=similarity, nproc=nproc, warm_start=warm_start)
    finally:
        if graph is not None:
            graph.close()
    metrics = job.result.metrics
    written = job.write_back
    if as_json:
        render.emit_json({"model": model, "checkpoint": job.result.checkpoint_dir, "metrics": metrics,
                          "recipe": None if job.recipe is None else job.recipe.to_dict(),
                          "snapshot": {"entities": job.snapshot.num_entities, "triples": len(job.snapshot.triples),
                                       **{k: job.snapshot.meta.get(k) for k in (
                                           "export_mode", "entities_read", "facts_read", "export_seconds")}},
                          "write_back": None if written is None else {
                              "version": written.version.version, "vectors": written.vectors,
                              "property": written.version.property_name, "index": written.version.index_name,
                              "modalities": list(written.version.modalities),
                              "vectors_per_second": written.vectors_per_second}})
        return
    render.metrics_table(metrics.get("test", {}), title=f"{model}: filtered test metrics")
    echo(f"trained {metrics.get('train_seconds', 0):.1f} s ({metrics.get('triples_per_second', 0):,.0f} "
         f"triples/s), best epoch {metrics.get('best_epoch')}, checkpoint {job.result.checkpoint_dir}")
    if written is not None:
        echo(f"wrote {written.vectors:,} vectors to :Entity.{written.version.property_name} "
             f"(index {written.version.index_name}, {written.vectors_per_second:,.0f} vectors/s)")
        for modality in written.version.modalities:
            echo(f"wrote the {modality} vectors to :Entity.{written.version.property_for(modality)} "
                 f"(index {written.version.index_for(modality)}): `kgstore nearest --{modality} ...` searches them")


@click.command("eval", context_settings=CONTEXT)
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--model", default="default", show_default=True, help="Use this model's latest checkpoint.")
@click.option("--split", type=click.Choice(["test", "valid", "train"]), default="test", show_default=True,
              help="Which split's triples to rank.")
@click.option("--snapshot", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Evaluate on this snapshot folder instead of exporting from Neo4j.")
@click.option("--dataset", "datasets", multiple=True, metavar="NS", help="Dataset namespaces, as in training.")
@click.option("--per-relation", type=click.IntRange(0), default=10, show_default=True,
              help="Show this many relations' own metrics.")
@click.option("--device", default="cpu", show_default=True, help="Torch device: cpu, cuda or cuda:N.")
@json_option
@connection_options
@click.pass_context
def evaluate(ctx: click.Context, checkpoint: Path | None, model: str, split: str, snapshot: Path | None,
             datasets: tuple[str, ...], per_relation: int, device: str, as_json: bool, **conn: Any) -> None:
    """Filtered MRR and Hits@1/3/10 (both directions, realistic ties) of a checkpoint on a split."""
    need_trainer()
    from trainer.evaluation import evaluate_checkpoint

    graph = open_graph(ctx, **conn) if snapshot is None else None
    try:
        folder, metrics = evaluate_checkpoint(graph, home_of(ctx), checkpoint=checkpoint, model=model, split=split,
                                              snapshot=snapshot, namespaces=namespaces(datasets), device=device)
    finally:
        if graph is not None:
            graph.close()
    if as_json:
        render.emit_json({"checkpoint": folder, "split": split, "metrics": metrics})
        return
    render.metrics_table(metrics, title=f"{folder.name}: filtered {split} metrics", per_relation=per_relation)


@click.command("write-back", context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--model", default="default", show_default=True, help="Model name to write the vectors under.")
@click.option("--similarity", type=SIMILARITY, default="cosine", show_default=True,
              help="Similarity of the vector index.")
@connection_options
@click.pass_context
def write_back(ctx: click.Context, checkpoint: Path, model: str, similarity: str, **conn: Any) -> None:
    """Write a checkpoint's entity vectors into Neo4j (a new version of MODEL, with its vector index)."""
    need_trainer()
    from trainer.pipeline import write_checkpoint_vectors

    with open_graph(ctx, **conn) as graph:
        result = write_checkpoint_vectors(graph, checkpoint, model=model, similarity=similarity)
    echo(f"wrote {result.vectors:,} vectors ({result.missing_keys:,} keys not in the database) to "
         f":Entity.{result.version.property_name}, index {result.version.index_name} "
         f"[{result.vectors_per_second:,.0f} vectors/s]")
    for orphan in result.collected:
        echo(f"removed version {orphan.version} of {model!r} ({orphan.vectors:,} vector values)")


@click.command(context_settings=CONTEXT)
@click.option("--model", default="default", show_default=True,
              help="Serve this model's latest checkpoint; a newer one (kgstore train) is picked up within a second.")
@click.option("--checkpoint", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Serve this checkpoint folder instead of the model's latest (never reloaded).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface; use --token then).")
@click.option("--port", type=click.IntRange(1, 65535),
              help="Port. [default: the home's sidecar port, the one kgstore.conf gives the procedures; 8765]")
@click.option("--token", metavar="SECRET", envvar="KGSTORE_SIDECAR_TOKEN", show_envvar=True,
              help="Require 'Authorization: Bearer SECRET' everywhere but /health; give the procedures the "
              "same value as kgstore.sidecar.token in the server's kgstore.conf.")
@click.option("--index", type=click.Choice(["exact", "hnsw"]), default="exact", show_default=True,
              help="FAISS index for /predict: exact (same answers as brute force) or hnsw (approximate, "
              "for millions of entities).")
@click.option("--max-k", type=click.IntRange(1), default=1000, show_default=True,
              help="Largest k a /predict request may ask for.")
@click.option("--max-batch", type=click.IntRange(1), default=10_000, show_default=True,
              help="Most triples (/score) or queries (/predict) per request.")
@click.option("--device", default="cpu", show_default=True, help="Torch device of the model: cpu, cuda or cuda:N.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes on the port, each with its own copy of the model (use the cores).")
@click.option("--detach", is_flag=True, help="Run in the background (its log is sidecar.log beside the managed "
              "server's logs) and return once it answers.")
@click.option("--stop", "stop_detached", is_flag=True, help="Stop the sidecar that --detach started, and exit.")
@click.pass_context
def serve(ctx: click.Context, token: str | None, detach: bool, stop_detached: bool, **options: Any) -> None:
    """Run the decoder sidecar: link scoring and prediction over HTTP for the kgstore.* procedures.

    Loads a trained checkpoint and answers POST /score (triple scores), POST /predict
    (top-k heads or tails with FAISS, known facts filtered) and GET /health; the API docs
    are at /docs. Runs in the foreground until Ctrl-C.

    \b
    Example:
      kgstore train --model demo
      kgstore serve --model demo
      curl -s http://127.0.0.1:8765/health
      kgstore serve --model demo --detach && kgstore complete treats && kgstore serve --stop
    """
    from kgstore.server import sidecar_process

    home = home_of(ctx)
    if stop_detached:
        pid = sidecar_process.stop_detached(home)
        echo(f"Sidecar (pid {pid}) stopped." if pid else "No detached sidecar runs for this home.")
        return
    sidecar = sidecar_process.SidecarOptions(**options)
    if detach:
        answer = sidecar_process.start_detached(home, sidecar, token=token)
        if answer.get("already_running"):
            echo("A detached sidecar already runs for this home (it follows the newest checkpoint itself).")
        echo(f"Sidecar serving model {answer['model']!r} version {answer.get('version')} "
             f"({answer['entities']:,} entities) at {sidecar.url(home)} (pid "
             f"{sidecar_process.running_pid(home)}); stop it with: kgstore serve --stop")
        return
    need_trainer()
    from trainer.sidecar.run import serve_model

    serve_model(home, model=sidecar.model, checkpoint=sidecar.checkpoint, host=sidecar.host,
                port=sidecar.port_for(home), token=token, index=sidecar.index, max_k=sidecar.max_k,
                max_batch=sidecar.max_batch, device=sidecar.device, workers=sidecar.workers, echo=echo)



@click.group("models", context_settings=CONTEXT)
def models_group() -> None:
    """Trained models: their versions, metrics and vector indexes; drop one; collect orphaned versions.

    A model's vectors live in Neo4j as versions (`embedding_<model>_v<n>` with a vector
    index each); its checkpoints in <home>/models/<model>/. A write-back killed halfway
    leaves an orphaned version: the next write-back or `kgstore models gc` removes it once
    its lease has expired.
    """


@models_group.command("list", context_settings=CONTEXT)
@json_option
@connection_options
@click.pass_context
def models_list(ctx: click.Context, as_json: bool, **conn: Any) -> None:
    """List the models in the database (and those with checkpoints only), current version first."""
    from kgstore.models import list_models

    with open_graph(ctx, **conn) as graph:
        found = list_models(graph, home_of(ctx))
    if as_json:
        render.emit_json({"models": found})
        return
    render.table("kgstore models", ["model", ("version", "right"), ("dim", "right"), "similarity",
                                    ("vectors", "right"), "decoder", ("test MRR", "right"), "indexes", "written"],
                 ([m.name, m.version, m.dimension, m.similarity, m.vectors, m.meta.get("decoder"),
                   m.meta.get("test_mrr"), ", ".join(i.name for i in m.indexes) or "-", (m.written_at or "")[:19]]
                  for m in found), empty="No models yet: train one with `kgstore train --model NAME`.")


@models_group.command("show", context_settings=CONTEXT)
@click.argument("model")
@json_option
@connection_options
@click.pass_context
def models_show(ctx: click.Context, model: str, as_json: bool, **conn: Any) -> None:
    """Show MODEL: every version in the database, its indexes, predictions and checkpoints."""
    from kgstore.models import show_model

    with open_graph(ctx, **conn) as graph:
        info = show_model(graph, model, home_of(ctx))
    if as_json:
        render.emit_json(info)
        return
    console = render.console()
    console.print(f"[bold]{info.name}[/]: current version {info.version or '-'} of {info.latest_version or 0} "
                  f"claimed; {info.predictions or 0:,} predicted edges; "
                  f"meta {', '.join(f'{k}={v}' for k, v in sorted(info.meta.items())) or '-'}", highlight=False)
    render.table("versions in the database", [("version", "right"), "status", ("vectors", "right"), "indexes",
                                              "lease"],
                 ([v.version, v.status, v.vectors, ", ".join(v.indexes) or "-",
                   f"{v.lease.purpose} by {v.lease.holder} until {v.lease.expires_at[:19]}" if v.lease else ""]
                  for v in info.versions or []), empty="No vectors in the database.")
    render.table("vector indexes", ["name", ("version", "right"), "state", ("populated", "right"), ("dim", "right"),
                                    "similarity"],
                 ([i.name, i.version, i.state, f"{i.population_percent:.0f}%", i.dimension, i.similarity]
                  for i in info.indexes), empty="No vector indexes.")
    render.table("checkpoints", ["path", "latest", ("test MRR", "right")],
                 ([c.path, c.latest, ((c.metrics or {}).get("test") or {}).get("mrr")]
                  for c in info.checkpoints or []), empty="No checkpoints on this machine.")
    latest = next((c for c in info.checkpoints or [] if c.latest), None)
    if latest is not None and latest.curves:
        console.print(f"training curves (latest checkpoint): {latest.curves}", highlight=False, soft_wrap=True)


@models_group.command("drop", context_settings=CONTEXT)
@click.argument("model")
@click.option("--checkpoints", is_flag=True, help="Also delete the model's checkpoint folder in the home.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
@click.pass_context
def models_drop(ctx: click.Context, model: str, checkpoints: bool, yes: bool, **conn: Any) -> None:
    """Remove MODEL: its vectors (all versions), vector indexes, KgModel node and predicted edges.

    Facts are never touched. With --checkpoints its trained checkpoints go too.
    """
    from kgstore.models import drop_model

    if not yes:
        click.confirm(f"Drop model {model!r}" + (" and its checkpoints" if checkpoints else "") + "?", abort=True)
    with open_graph(ctx, **conn) as graph:
        result = drop_model(graph, model, home=home_of(ctx), checkpoints=checkpoints)
    echo(f"Dropped model {model!r}: {result.vectors:,} vector values of {len(result.versions)} versions, "
         f"{result.indexes} vector indexes, {result.predictions:,} predicted edges"
         + (", its KgModel node" if result.model_node else "")
         + (f", checkpoints in {result.checkpoints}" if result.checkpoints else "") + ".")


@models_group.command("gc", context_settings=CONTEXT)
@click.option("--model", help="Only this model's orphaned versions. [default: every model]")
@json_option
@connection_options
@click.pass_context
def models_gc(ctx: click.Context, model: str | None, as_json: bool, **conn: Any) -> None:
    """Drop orphaned vector versions: neither current nor being written by a live write-back.

    A write-back killed halfway (SIGKILL, a lost machine) leaves its properties and index;
    they become orphans when its lease stops being renewed (30 s).
    """
    from kgstore.models import gc

    with open_graph(ctx, **conn) as graph:
        dropped = gc(graph, model)
    if as_json:
        render.emit_json({"collected": dropped})
        return
    if not dropped:
        echo("No orphaned versions.")
        return
    for version in dropped:
        echo(f"Dropped {version.model} v{version.version}: {version.vectors:,} vector values, "
             f"indexes {', '.join(version.indexes) or '-'}")
