"""The ``kgstore`` command line: a thin shell over the library (every command calls it).

Example::

    kgstore server install && kgstore server start
    kgstore schema apply
    kgstore status
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from kgstore import __version__
from kgstore.errors import KgstoreError
from kgstore.home import HOME_ENV, KgstoreHome

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def echo(message: str) -> None:
    click.echo(message, err=False)


def _home(ctx: click.Context) -> KgstoreHome:
    return KgstoreHome(ctx.obj.get("home") if ctx.obj else None)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--uri --user --password --database``, falling back to NEO4J_* env and the managed server."""
    options = [
        click.option("--uri", metavar="URI", help="bolt://, neo4j:// (routing) or neo4j+s:// URI. "
                     "[env NEO4J_URI; default: the managed server of the kgstore home]"),
        click.option("--user", metavar="NAME", help="User name. [env NEO4J_USERNAME; default neo4j]"),
        click.option("--password", metavar="SECRET", help="Password. [env NEO4J_PASSWORD; default: "
                     "the managed server's password file]"),
        click.option("--database", metavar="NAME", help="Database name. [env NEO4J_DATABASE; "
                     "default: the server's default database]"),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def open_graph(ctx: click.Context, uri: str | None, user: str | None, password: str | None,
               database: str | None):  # noqa: ANN201 - returns kgstore.Graph
    from kgstore.driver import connect

    return connect(uri, user, password, database, home=_home(ctx))


class KgstoreGroup(click.Group):
    """Turns KgstoreError into a short message and exit code 1 instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KgstoreError as exc:
            click.secho(f"Error: {exc.message}", fg="red", err=True)
            if exc.hint:
                click.echo(exc.hint, err=True)
            for note in getattr(exc, "__notes__", ()):  # e.g. a cleanup that failed as well
                click.echo(note, err=True)
            ctx.exit(1)


@click.group(cls=KgstoreGroup, context_settings=CONTEXT)
@click.version_option(__version__, prog_name="kgstore")
@click.option("--home", type=click.Path(path_type=Path), envvar=HOME_ENV, show_envvar=True,
              help="kgstore home: the managed server's data, config, logs and password. "
              "[default: the per-user data folder]")
@click.pass_context
def main(ctx: click.Context, home: Path | None) -> None:
    """kgstore makes a Neo4j database learn.

    Sync a knowledge graph into Neo4j, train entity vectors on it, write them back into a
    vector index and complete missing links from Cypher.

    \b
    Quick start (managed local Neo4j, no Docker needed):
      kgstore server install && kgstore server start
      kgstore schema apply
      kgstore status
    """
    ctx.ensure_object(dict)
    ctx.obj["home"] = home


# ----------------------------------------------------------------------- server
@main.group(context_settings=CONTEXT)
def server() -> None:
    """Manage the local Neo4j server of the kgstore home (no Docker needed).

    Neo4j Community 5.26 is resolved from Maven Central with `mvn` into a versioned
    cache and runs as a Java process whose data, config and logs live in the kgstore
    home (KGSTORE_HOME). Two homes give two independent servers.
    """


@server.command(context_settings=CONTEXT)
@click.option("--neo4j-version", metavar="X.Y.Z", help="Exact Neo4j version. [default: newest 5.26 patch]")
@click.option("--upgrade", is_flag=True, help="Ask Maven for the newest 5.26 patch even if one is cached.")
@click.option("--cache-dir", type=click.Path(path_type=Path), envvar="KGSTORE_NEO4J_CACHE",
              show_envvar=True, help="Where Neo4j versions are cached. [default: ~/.cache/kgstore/neo4j]")
@click.option("--bolt-port", type=click.IntRange(1, 65535), help="Bolt port. [default: 7687, or a free one]")
@click.option("--http-port", type=click.IntRange(1, 65535), help="HTTP/Browser port. [default: 7474, or a free one]")
@click.option("--password", metavar="SECRET", help="Password for user neo4j. [default: generated, kept in "
              "<home>/password with mode 0600]")
@click.option("--heap", "heap_size", metavar="SIZE", help="JVM heap, e.g. 1g. [default 1g]")
@click.option("--pagecache", "pagecache_size", metavar="SIZE", help="Page cache, e.g. 512m. [default 512m]")
@click.option("--plugin-jar", type=click.Path(path_type=Path, dir_okay=False),
              help="kgstore plugin jar to install. [env KGSTORE_PLUGIN_JAR; default: built from plugin/]")
@click.pass_context
def install(ctx: click.Context, neo4j_version: str | None, upgrade: bool, cache_dir: Path | None,
            bolt_port: int | None, http_port: int | None, password: str | None,
            heap_size: str | None, pagecache_size: str | None, plugin_jar: Path | None) -> None:
    """Install Neo4j into the kgstore home (safe to repeat).

    Resolves the jars with Maven (cached), writes neo4j.conf (127.0.0.1 only, auth on),
    sets the password and installs the kgstore plugin.

    \b
    Example:
      KGSTORE_HOME=/tmp/kg2 kgstore server install --bolt-port 17687 --http-port 17474
    """
    from kgstore.server import ManagedServer

    ManagedServer(_home(ctx), cache_dir=cache_dir).install(
        version=neo4j_version, upgrade=upgrade, bolt_port=bolt_port, http_port=http_port,
        password=password, heap_size=heap_size, pagecache_size=pagecache_size,
        plugin_jar=plugin_jar, echo=echo)


@server.command(context_settings=CONTEXT)
@click.option("--timeout", type=float, default=180.0, show_default=True,
              help="Seconds to wait for Bolt to answer.")
@click.pass_context
def start(ctx: click.Context, timeout: float) -> None:
    """Start the managed Neo4j in the background and wait until Bolt answers."""
    from kgstore.server import ManagedServer

    status = ManagedServer(_home(ctx)).start(timeout=timeout, echo=echo)
    for line in status.lines():
        echo(line)


@server.command(context_settings=CONTEXT)
@click.option("--timeout", type=float, default=60.0, show_default=True,
              help="Seconds to wait for a graceful stop before killing the process.")
@click.pass_context
def stop(ctx: click.Context, timeout: float) -> None:
    """Stop the managed Neo4j gracefully and wait until it has exited."""
    from kgstore.server import ManagedServer

    ManagedServer(_home(ctx)).stop(timeout=timeout, echo=echo)


@server.command("status", context_settings=CONTEXT)
@click.pass_context
def server_status(ctx: click.Context) -> None:
    """Say whether the managed Neo4j is installed and running, and where."""
    from kgstore.server import ManagedServer

    status = ManagedServer(_home(ctx)).status()
    for line in status.lines():
        echo(line)
    ctx.exit(0 if status.running else 3)


@server.command(context_settings=CONTEXT)
@click.option("-n", "--lines", type=click.IntRange(1), default=50, show_default=True,
              help="How many lines from the end.")
@click.option("--which", type=click.Choice(["neo4j", "debug", "console", "query", "security"]),
              default="neo4j", show_default=True, help="Which log file.")
@click.pass_context
def logs(ctx: click.Context, lines: int, which: str) -> None:
    """Print the end of the managed server's log."""
    from kgstore.server import ManagedServer

    echo(ManagedServer(_home(ctx)).logs(lines, which=which))


# ----------------------------------------------------------------------- schema
@main.group(context_settings=CONTEXT)
def schema() -> None:
    """The constraints and indexes kgstore needs (cypher/schema.cypher)."""


@schema.command("apply", context_settings=CONTEXT)
@connection_options
@click.pass_context
def schema_apply(ctx: click.Context, **conn: Any) -> None:
    """Create the missing constraints and indexes and wait until they are ONLINE (idempotent)."""
    from kgstore.schema import apply_schema

    with open_graph(ctx, **conn) as graph:
        result = apply_schema(graph)
    if result.changed:
        echo(f"Schema applied: created {', '.join(result.created)}")
    else:
        echo(f"Schema up to date: nothing changed ({len(result.existing)} constraints and indexes).")


# ------------------------------------------------------------------------- sync
def _parse_triple_option(value: str) -> tuple[str | None, Path]:
    split, sep, path = value.partition("=")
    if sep and split in ("train", "valid", "test"):
        return split, Path(path)
    return None, Path(value)


@main.command(context_settings=CONTEXT)
@click.argument("dataset", required=False, metavar="[NAME|FOLDER]")
@click.option("--source", type=click.Path(path_type=Path), metavar="PATH",
              help="Where a named dataset's files are (its folder, or a folder of dataset folders). "
              "[env KGSTORE_DATA]")
@click.option("--namespace", metavar="NS", help="Key prefix of this dataset's entities "
              "(`NS:id`). [default: the dataset name or folder name]")
@click.option("--triples", "triple_files", multiple=True, metavar="[SPLIT=]FILE",
              help="A triples file (TSV/CSV: head, relation, tail[, split][, properties...]); "
              "repeat it, e.g. --triples train=a.tsv --triples test=b.tsv.")
@click.option("--entities", "entity_files", multiple=True, type=click.Path(path_type=Path),
              help="Entity attributes (TSV/CSV with a header, or JSON Lines): key, name, description, "
              "labels (;-separated), other properties.")
@click.option("--images", "image_source", type=click.Path(path_type=Path),
              help="A folder of <entity>.<ext> images, or a manifest of entity, path.")
@click.option("--format", "fmt", type=click.Choice(["tsv", "csv", "jsonl"]),
              help="Force the file format instead of sniffing it from the extension.")
@click.option("-o", "--option", "options", multiple=True, metavar="KEY=VALUE",
              help="An option of a named dataset, e.g. -o split=ua for movielens-100k's official ua split.")
@click.option("--encoding", default="utf-8", show_default=True, help="Text encoding of the input files.")
@click.option("--split-column", default="split", show_default=True,
              help="Header name of the column giving each triple's split.")
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail", show_default=True,
              help="fail: stop at the first bad line before writing anything; skip: import the good "
              "lines and list every bad one.")
@click.option("--batch-size", type=click.IntRange(100, 200_000), default=10_000, show_default=True,
              help="Rows per write transaction.")
@click.option("--image-store", type=click.Path(path_type=Path), envvar="KGSTORE_IMAGE_STORE",
              show_envvar=True, help="Folder of the content-addressed image files. [default: <home>/images]")
@connection_options
@click.pass_context
def sync(ctx: click.Context, dataset: str | None, source: Path | None, namespace: str | None,
         triple_files: tuple[str, ...], entity_files: tuple[Path, ...], image_source: Path | None,
         options: tuple[str, ...], fmt: str | None, encoding: str, split_column: str, on_error: str, batch_size: int,
         image_store: Path | None, **conn: Any) -> None:
    """Import a dataset into Neo4j: triples with their splits, entity text, images.

    DATASET is a known name (`kgstore datasets list`), or a folder holding train.txt,
    valid.txt and test.txt; or give your own files with --triples/--entities/--images.
    Input is validated before anything is written; re-running changes nothing; a killed
    run resumes where it stopped.

    \b
    Examples:
      kgstore sync fb15k-237 --source ../shared/data
      kgstore sync path/to/folder-with-train-valid-test
      kgstore sync --namespace mykg --triples facts.csv --entities people.jsonl --images photos/
    """
    from kgstore.importers.files import FileSource, TripleFile
    from kgstore.importers.input_errors import InputErrors
    from kgstore.sync import sync_dataset

    errors = InputErrors(policy=on_error)  # type: ignore[arg-type]
    if triple_files or entity_files or image_source:
        if dataset:
            raise click.UsageError("give either a DATASET or --triples/--entities/--images, not both")
        if not namespace:
            raise click.UsageError("--namespace is required with --triples/--entities/--images")
        files = [TripleFile(path, split) for split, path in map(_parse_triple_option, triple_files)]
        source_ds = FileSource(namespace=namespace, triple_files=files, entity_files=list(entity_files),
                               image_source=image_source, fmt=fmt, encoding=encoding,
                               split_column=split_column, errors=errors)
    elif dataset:
        from kgstore.importers.registry import open_dataset

        extra = {}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or not key:
                raise click.BadParameter(f"{option!r} is not KEY=VALUE", param_hint="--option")
            extra[key] = value
        source_ds = open_dataset(dataset, source=source, namespace=namespace, errors=errors, **extra)
    else:
        raise click.UsageError("name a DATASET (see `kgstore datasets list`) or give --triples FILE")

    home = _home(ctx)
    store = image_store or home.root / "images"
    with open_graph(ctx, **conn) as graph:
        echo(f"Syncing {source_ds.namespace} from {source_ds.root} into {graph.settings.uri}")
        with _progress() as hook:
            summary = sync_dataset(graph, source_ds, image_store=store, triple_batch_size=batch_size,
                                   progress=hook)
    _print_sync_summary(summary)


class _progress:
    """A rich progress bar per phase, on stderr, hidden when stderr is not a terminal."""

    def __enter__(self):  # noqa: ANN204
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=False)
        self.progress.start()
        return self.hook

    def hook(self, phase: str, total: int):  # noqa: ANN201
        task = self.progress.add_task(phase, total=total or None)
        return lambda n: self.progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _print_sync_summary(summary) -> None:  # noqa: ANN001
    console = Console()
    table = Table(title=f"kgstore sync {summary.namespace} ({summary.mode})")
    table.add_column("what")
    for column in ("created", "updated", "unchanged/existing", "skipped"):
        table.add_column(column, justify="right")
    table.add_row("entities", f"{summary.entities_created:,}", f"{summary.entities_updated:,}",
                  f"{summary.entities_unchanged:,}", "")
    table.add_row("triples", f"{summary.triples_created:,}", "",
                  f"{summary.triples_existing + summary.triples_resumed:,}",
                  f"{summary.duplicate_triples:,} repeated" if summary.duplicate_triples else "")
    if summary.images_linked or summary.images_existing or summary.images_stored:
        table.add_row("images", f"{summary.images_linked:,} linked", f"{summary.images_stored:,} stored",
                      f"{summary.images_existing:,}", "")
    table.add_row("bad lines", "", "", "", f"{len(summary.skipped):,}")
    console.print(table)
    splits = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.triples_by_split.items()))
    console.print(f"triples by split: {splits}")
    console.print(f"{summary.seconds:.1f} s, {summary.triples_per_second:,.0f} triples/s")
    for problem in summary.skipped:
        console.print(f"[yellow]skipped[/] {problem}", markup=True, highlight=False)
    if not summary.changed:
        console.print("Nothing changed: the database already held this dataset.")


@main.group(context_settings=CONTEXT)
def datasets() -> None:
    """Known datasets: what they are, whether their files are here, how to get them."""


@datasets.command("list", context_settings=CONTEXT)
@click.option("--source", type=click.Path(path_type=Path), help="A folder of dataset folders. [env KGSTORE_DATA]")
def datasets_list(source: Path | None) -> None:
    """List the named datasets `kgstore sync` knows, and where their files were found."""
    from kgstore.importers.registry import dataset_table

    table = Table(title="kgstore datasets")
    for column in ("name", "present", "where", "description"):
        table.add_column(column)
    for row in dataset_table(source):
        table.add_row(row["name"], "yes" if row["present"] else "no", str(row["path"] or "-"),
                      row["description"])
    Console().print(table)


@datasets.command("download", context_settings=CONTEXT)
@click.argument("name")
@click.option("--dest", type=click.Path(path_type=Path), help="Folder to put the files in. "
              "[default: the per-user data folder]")
def datasets_download(name: str, dest: Path | None) -> None:
    """Download NAME from its official URLs and verify every file's sha256 (needs network)."""
    from kgstore.importers.registry import download

    folder = download(name, dest, echo=echo)
    echo(f"{name} is in {folder}; import it with: kgstore sync {name} --source {folder}")


# ---------------------------------------------------------------------- training
TRAIN_HINT = "training needs the `train` extra: pip install 'kgstore[train]'"


def _need_trainer() -> None:
    import trainer  # noqa: F401 - before PyG: it silences a warning PyG's import triggers (trainer/__init__.py)

    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401
    except ImportError as exc:
        raise KgstoreError(f"{exc.name} is not installed", hint=TRAIN_HINT) from exc


def _namespaces(datasets: tuple[str, ...]) -> list[str] | None:
    return sorted(datasets) or None


def _parse_modalities(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    names = [m.strip() for m in (value or "").split(",") if m.strip()]
    bad = [m for m in names if m not in ("text", "image")]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)}: use text, image or text,image")
    return names


@main.command(context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dataset", "datasets", multiple=True, metavar="NS",
              help="Only entities of this dataset namespace (repeatable). [default: all]")
@click.option("--refresh", is_flag=True, help="Export again even if the graph looks unchanged.")
@connection_options
@click.pass_context
def export(ctx: click.Context, path: Path, datasets: tuple[str, ...], refresh: bool, **conn: Any) -> None:
    """Write a portable graph snapshot to PATH (for a GPU machine that cannot reach Neo4j).

    Train from it elsewhere with `kgstore train --snapshot PATH --no-write-back`, then bring the
    checkpoint back and run `kgstore write-back CHECKPOINT`.
    """
    _need_trainer()
    from trainer.export import export_snapshot

    with open_graph(ctx, **conn) as graph:
        snapshot = export_snapshot(graph, path, namespaces=_namespaces(datasets), refresh=refresh)
    counts = snapshot.meta.get("num_triples", {})
    echo(f"Snapshot in {path}: {snapshot.num_entities:,} entities, {snapshot.num_relations:,} relations, "
         + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))


@main.command(context_settings=CONTEXT)
@click.option("--model", default="default", show_default=True, help="Model name: vectors go to its property/index.")
@click.option("--dataset", "datasets", multiple=True, metavar="NS",
              help="Train on these dataset namespaces only (repeatable). [default: all]")
@click.option("--snapshot", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Train from this snapshot folder instead of exporting from Neo4j.")
@click.option("--decoder", type=click.Choice(["distmult", "complex", "rotate", "transe"]), default="distmult",
              show_default=True, help="Scoring function.")
@click.option("--dim", type=click.IntRange(2, 4096), default=200, show_default=True, help="Vector width.")
@click.option("--layers", type=click.IntRange(0, 4), default=0, show_default=True,
              help="R-GCN layers (0 = plain embeddings).")
@click.option("--residual", is_flag=True,
              help="R-GCN layers add their input to their output (x + layer(x)): the messages correct the "
                   "plain embedding instead of rebuilding it (UMLS, 3 seeds: MRR 0.940 on average).")
@click.option("--epochs", type=click.IntRange(1), default=200, show_default=True, help="Epoch cap.")
@click.option("--lr", type=float, default=3e-3, show_default=True, help="Learning rate.")
@click.option("--optimizer", type=click.Choice(["adam", "adagrad"]), default="adam", show_default=True,
              help="Optimiser (adagrad with --lr 0.1 and --regularization is the large-graph recipe).")
@click.option("--batch-size", type=click.IntRange(1), default=256, show_default=True, help="Training rows per step.")
@click.option("--loss", type=click.Choice(["1-n-ce", "1-n", "nssa"]), default="1-n-ce", show_default=True,
              help="1-N softmax cross-entropy, 1-N BCE with label smoothing, or negative sampling with "
                   "self-adversarial weights.")
@click.option("--regularization", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Weight of the N3 penalty on each batch's vectors.")
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.3, show_default=True,
              help="Dropout on the query vector (and between R-GCN layers).")
@click.option("--patience", type=click.IntRange(0), default=5, show_default=True,
              help="Validations without improvement before stopping early (0 = never).")
@click.option("--max-seconds", type=float, help="Wall-clock cap on training.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (mixed precision on CUDA).")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--resume", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Continue training this checkpoint folder.")
@click.option("--refresh", is_flag=True, help="Re-export the snapshot even if the graph looks unchanged.")
@click.option("--no-write-back", is_flag=True, help="Keep the vectors in the checkpoint only.")
@click.option("--similarity", type=click.Choice(["cosine", "euclidean"]), default="cosine", show_default=True,
              help="Similarity of the vector index.")
@click.option("--modalities", default="", metavar="LIST", callback=_parse_modalities,
              help="Fuse and align entity text and/or images: text, image or text,image. [default: none]")
@click.option("--text-encoder", default="minilm", show_default=True,
              help="minilm (all-MiniLM-L6-v2, offline), a sentence-transformers folder, or open_clip:MODEL.")
@click.option("--text-checkpoint", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Weights file for an open_clip text encoder.")
@click.option("--image-encoder", default="efficientnet-lite0", show_default=True,
              help="efficientnet-lite0 (ImageNet, offline) or open_clip:MODEL (a name or config JSON).")
@click.option("--image-checkpoint", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Weights file for an open_clip image encoder (no model hub is contacted).")
@click.option("--align-weight", type=click.FloatRange(0), default=0.5, show_default=True,
              help="Weight of the InfoNCE loss aligning entity vectors with their text/images.")
@connection_options
@click.pass_context
def train(ctx: click.Context, model: str, datasets: tuple[str, ...], snapshot: Path | None, decoder: str, dim: int,
          layers: int, residual: bool, epochs: int, lr: float, optimizer: str, batch_size: int, loss: str,
          regularization: float, dropout: float, patience: int,
          max_seconds: float | None, device: str, seed: int, resume: Path | None, refresh: bool,
          no_write_back: bool, similarity: str, modalities: list[str], text_encoder: str,
          text_checkpoint: Path | None, image_encoder: str, image_checkpoint: Path | None, align_weight: float,
          **conn: Any) -> None:
    """Train entity vectors on the graph and write them back into a Neo4j vector index.

    Streams the graph from Neo4j into a snapshot (reused while the graph is unchanged),
    trains a link-prediction model on the train split with early stopping on the valid
    split, reports filtered MRR/Hits@k on the test split, saves a checkpoint in
    <home>/models/MODEL/ and writes the vectors to the :Entity nodes.

    \b
    Examples:
      kgstore train
      kgstore train --dataset fb15k-237 --decoder complex --dim 1000 --device cuda \\
          --optimizer adagrad --lr 0.1 --regularization 0.05 --dropout 0 --batch-size 1000
      kgstore train --snapshot snap/ --no-write-back     # on a machine without the database
      kgstore train --modalities text,image              # then: kgstore nearest --text "..."
    """
    _need_trainer()
    from trainer.config import TrainConfig
    from trainer.pipeline import train_model

    if residual and not layers:
        raise click.UsageError("--residual needs R-GCN layers (--layers 1 or more)")
    config = TrainConfig(decoder=decoder, dim=dim, num_layers=layers,
                         encoder_kwargs={"residual": True} if residual else {}, epochs=epochs, lr=lr,
                         batch_size=batch_size,
                         loss=loss, optimizer=optimizer, regularization=regularization, dropout=dropout,
                         patience=patience, max_seconds=max_seconds, device=device, seed=seed,
                         modalities=modalities, text_encoder=text_encoder,
                         text_checkpoint=str(text_checkpoint) if text_checkpoint else None,
                         image_encoder=image_encoder,
                         image_checkpoint=str(image_checkpoint) if image_checkpoint else None,
                         align_weight=align_weight)
    home = _home(ctx)
    needs_db = snapshot is None or not no_write_back
    graph = open_graph(ctx, **conn) if needs_db else None
    try:
        job = train_model(graph, home=home, model=model, config=config, snapshot=snapshot,
                          namespaces=_namespaces(datasets), refresh=refresh, resume=resume,
                          write_back=not no_write_back, similarity=similarity)
    finally:
        if graph is not None:
            graph.close()
    _print_metrics(job.result.metrics.get("test", {}), title=f"{model}: filtered test metrics")
    m = job.result.metrics
    echo(f"trained {m.get('train_seconds', 0):.1f} s ({m.get('triples_per_second', 0):,.0f} triples/s), "
         f"best epoch {m.get('best_epoch')}, checkpoint {job.result.checkpoint_dir}")
    if job.write_back is not None:
        wb = job.write_back
        echo(f"wrote {wb.vectors:,} vectors to :Entity.{wb.version.property_name} "
             f"(index {wb.version.index_name}, {wb.vectors_per_second:,.0f} vectors/s)")
        for modality in wb.version.modalities:
            echo(f"wrote the {modality} vectors to :Entity.{wb.version.property_for(modality)} "
                 f"(index {wb.version.index_for(modality)}): `kgstore nearest --{modality} ...` searches them")


def _print_metrics(metrics: dict[str, Any], *, title: str, per_relation: int = 0) -> None:
    table = Table(title=title)
    for column in ("MRR", "H@1", "H@3", "H@10", "triples"):
        table.add_column(column, justify="right")
    if metrics:
        table.add_row(f"{metrics['mrr']:.4f}", f"{metrics['hits@1']:.4f}", f"{metrics['hits@3']:.4f}",
                      f"{metrics['hits@10']:.4f}", f"{metrics.get('count', 0) // 2:,}")
    Console().print(table)
    rows = sorted((metrics.get("per_relation") or {}).items(), key=lambda kv: -kv[1]["count"])[:per_relation]
    if rows:
        table = Table(title="per relation (most frequent first)")
        for column in ("relation", "MRR", "H@10", "ranks"):
            table.add_column(column, justify="left" if column == "relation" else "right")
        for name, m in rows:
            table.add_row(name, f"{m['mrr']:.4f}", f"{m['hits@10']:.4f}", f"{m['count']:,}")
        Console().print(table)


@main.command("eval", context_settings=CONTEXT)
@click.argument("checkpoint", required=False, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--model", default="default", show_default=True, help="Use this model's latest checkpoint.")
@click.option("--split", type=click.Choice(["test", "valid", "train"]), default="test", show_default=True)
@click.option("--snapshot", type=click.Path(path_type=Path, exists=True, file_okay=False),
              help="Evaluate on this snapshot folder instead of exporting from Neo4j.")
@click.option("--dataset", "datasets", multiple=True, metavar="NS", help="Dataset namespaces, as in training.")
@click.option("--per-relation", type=click.IntRange(0), default=10, show_default=True,
              help="Show this many relations' own metrics.")
@click.option("--device", default="cpu", show_default=True)
@connection_options
@click.pass_context
def evaluate(ctx: click.Context, checkpoint: Path | None, model: str, split: str, snapshot: Path | None,
             datasets: tuple[str, ...], per_relation: int, device: str, **conn: Any) -> None:
    """Filtered MRR and Hits@1/3/10 (both directions, realistic ties) of a checkpoint on a split."""
    _need_trainer()
    from trainer.checkpoint import load_checkpoint
    from trainer.evaluation import evaluate_snapshot
    from trainer.pipeline import latest_checkpoint, load_or_export

    home = _home(ctx)
    checkpoint = checkpoint or latest_checkpoint(home, model)
    if checkpoint is None:
        raise KgstoreError(f"model {model!r} has no checkpoint in {home.root / 'models'}",
                           hint="Train one with `kgstore train`, or pass a CHECKPOINT folder.")
    net, _config, vocab, _metrics = load_checkpoint(checkpoint, device=device)
    graph = open_graph(ctx, **conn) if snapshot is None else None
    try:
        data = load_or_export(graph, home, snapshot=snapshot, namespaces=_namespaces(datasets))
    finally:
        if graph is not None:
            graph.close()
    if list(data.entity_keys) != list(vocab["entity_keys"]):
        raise KgstoreError(f"the graph changed since {checkpoint} was trained (its entities differ)",
                           hint="Evaluate with the snapshot it was trained on (--snapshot) or train again.")
    result = evaluate_snapshot(net, data, split)
    _print_metrics(result, title=f"{checkpoint.name}: filtered {split} metrics", per_relation=per_relation)


@main.command("write-back", context_settings=CONTEXT)
@click.argument("checkpoint", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--model", default="default", show_default=True, help="Model name to write the vectors under.")
@click.option("--similarity", type=click.Choice(["cosine", "euclidean"]), default="cosine", show_default=True)
@connection_options
@click.pass_context
def write_back(ctx: click.Context, checkpoint: Path, model: str, similarity: str, **conn: Any) -> None:
    """Write a checkpoint's entity vectors into Neo4j (a new version of MODEL, with its vector index)."""
    _need_trainer()
    from trainer.pipeline import write_checkpoint_vectors

    with open_graph(ctx, **conn) as graph:
        result = write_checkpoint_vectors(graph, checkpoint, model=model, similarity=similarity)
    echo(f"wrote {result.vectors:,} vectors ({result.missing_keys:,} keys not in the database) to "
         f":Entity.{result.version.property_name}, index {result.version.index_name} "
         f"[{result.vectors_per_second:,.0f} vectors/s]")


# ---------------------------------------------------------------------- sidecar
SERVE_HINT = "the sidecar needs the `train` and `serve` extras: pip install 'kgstore[train,serve]'"


@main.command(context_settings=CONTEXT)
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
@click.option("--detach", is_flag=True, help="Run in the background (log: <home>/server/logs/sidecar.log) and "
              "return once it answers.")
@click.option("--stop", "stop_detached", is_flag=True, help="Stop the sidecar that --detach started, and exit.")
@click.pass_context
def serve(ctx: click.Context, model: str, checkpoint: Path | None, host: str, port: int | None, token: str | None,
          index: str, max_k: int, max_batch: int, device: str, workers: int, detach: bool,
          stop_detached: bool) -> None:
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

    home = _home(ctx)
    if stop_detached:
        pid = sidecar_process.stop_detached(home)
        echo(f"Sidecar (pid {pid}) stopped." if pid else "No detached sidecar runs for this home.")
        return
    port = port or home.load_settings().sidecar_port
    if detach:
        args = ["--model", model, "--host", host, "--port", str(port), "--index", index, "--max-k", str(max_k),
                "--max-batch", str(max_batch), "--device", device, "--workers", str(workers)]
        if checkpoint is not None:
            args += ["--checkpoint", str(checkpoint)]
        # The token travels in the environment (inherited), never on a command line.
        if token:
            os.environ["KGSTORE_SIDECAR_TOKEN"] = token
        answer = sidecar_process.start_detached(home, args, f"http://{host}:{port}")
        if answer.get("already_running"):
            echo("A detached sidecar already runs for this home (it follows the newest checkpoint itself).")
        echo(f"Sidecar serving model {answer['model']!r} version {answer.get('version')} "
             f"({answer['entities']:,} entities) at http://{host}:{port} (pid "
             f"{sidecar_process.running_pid(home)}); stop it with: kgstore serve --stop")
        return
    _need_trainer()
    try:
        import faiss  # noqa: F401
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise KgstoreError(f"{exc.name} is not installed", hint=SERVE_HINT) from exc
    from trainer.pipeline import latest_checkpoint, models_dir
    from trainer.sidecar.model_store import ModelStore
    from trainer.sidecar.run import serve as run_sidecar
    from trainer.sidecar.run import set_threads

    if checkpoint is None and latest_checkpoint(home, model) is None:
        raise KgstoreError(f"model {model!r} has no checkpoint in {models_dir(home, model)}",
                           hint=f"Train one first: kgstore train --model {model} (or pass --checkpoint FOLDER).")
    set_threads()
    try:
        store = ModelStore(name=model, models_dir=None if checkpoint else models_dir(home, model),
                           checkpoint=checkpoint, index=index, device=device)
    except (FileNotFoundError, ValueError) as exc:
        raise KgstoreError(f"cannot serve model {model!r}: {exc}") from exc
    run_sidecar(store, host=host, port=port, token=token, max_k=max_k, max_batch=max_batch, workers=workers,
                echo=echo)


# ---------------------------------------------------------------------- vectors
@main.command(context_settings=CONTEXT)
@click.argument("key", required=False)
@click.option("-k", "k", type=click.IntRange(1, 1000), default=10, show_default=True, help="How many neighbours.")
@click.option("--model", default="default", show_default=True, help="Which model's vectors to search.")
@click.option("--text", "text", metavar="TEXT", help="Search by a text (model trained with --modalities text).")
@click.option("--image", "image", type=click.Path(path_type=Path, exists=True, dir_okay=False),
              help="Search by an image file (model trained with --modalities image).")
@click.option("--search", "space", type=click.Choice(["entities", "text", "image"]), default=None,
              help="Which vectors to search: the entity vectors, or the entities' own text or image vectors "
                   "in the shared space. Default: the query's modality (--text: text, --image: image) when "
                   "the model has it, else entities.")
@connection_options
@click.pass_context
def nearest(ctx: click.Context, key: str | None, k: int, model: str, text: str | None, image: Path | None,
            space: str | None, **conn: Any) -> None:
    """Print the K entities nearest to entity KEY, a --text or an --image in a model's vector indexes.

    A text or image query is encoded with the model's checkpoint (its encoder and alignment
    head). By default it is compared with the same modality of the entities (a text with
    the entities' texts, an image with their images) through the alignment head, in the
    space the entity vectors were aligned to; --search entities compares it with the entity
    vectors themselves, --search image finds the pictures that fit a text. The same queries
    in Cypher are in cypher/queries/nearest.cypher.

    \b
    Examples:
      kgstore nearest "fb15k-237:/m/0dr_4" -k 10
      kgstore nearest --text "space opera with rebels"
      kgstore nearest --text "a boy and his toys" --search image
      kgstore nearest --image poster.jpg
    """
    from kgstore.writeback import ENTITIES, current_version, require_space
    from kgstore.writeback import nearest as nearest_entities

    if sum(x is not None for x in (key, text, image)) != 1:
        raise click.UsageError("give exactly one of KEY, --text or --image")
    with open_graph(ctx, **conn) as graph:
        version = require_space(current_version(graph, model), model)
        if space is None:
            own = "text" if text is not None else "image" if image is not None else ENTITIES
            space = own if own in version.modalities else ENTITIES
        require_space(version, model, space)  # before encoding the query: a missing space fails fast
        if key is not None:
            rows = nearest_entities(graph, model, key=key, k=k, space=space, version=version)
        else:
            _need_trainer()
            from trainer.pipeline import query_vector

            vector = query_vector(graph, _home(ctx), model, text=text, image=image)
            rows = nearest_entities(graph, model, vector=vector, k=k, space=space, version=version)
    title = key if key is not None else (f"text {text!r}" if text is not None else f"image {image}")
    searched = "" if space == ENTITIES else f", {space} vectors"
    table = Table(title=f"nearest to {title} ({model}{searched})")
    for column in ("#", "key", "name", "score"):
        table.add_column(column, justify="right" if column in ("#", "score") else "left")
    for rank, row in enumerate(rows, start=1):
        table.add_row(str(rank), row["key"], row["name"] or "", f"{row['score']:.4f}")
    Console().print(table)


# ----------------------------------------------------------------------- status
@main.command(context_settings=CONTEXT)
@connection_options
@click.pass_context
def status(ctx: click.Context, **conn: Any) -> None:
    """Print the server and version, node and relationship counts, and indexes with their state."""
    from kgstore import schema as kg_schema

    console = Console()  # made here so the width follows the terminal (or $COLUMNS)

    with open_graph(ctx, **conn) as graph:
        info = graph.server_info()
        nodes = kg_schema.node_counts(graph)
        rels = kg_schema.relationship_counts(graph)
        index_rows = kg_schema.indexes(graph)
    console.print(f"[bold]{info['name']} {info['version']} {info['edition']}[/] at {info['uri']}")
    table = Table(title="Nodes by label")
    table.add_column("label")
    table.add_column("count", justify="right")
    for label, count in nodes.items():
        table.add_row(label, f"{count:,}")
    console.print(table if nodes else "No nodes yet.")
    table = Table(title="Relationships by type")
    table.add_column("type")
    table.add_column("count", justify="right")
    for rel_type, count in rels.items():
        table.add_row(rel_type, f"{count:,}")
    console.print(table if rels else "No relationships yet.")
    table = Table(title="Indexes")
    for column in ("name", "type", "on", "state", "populated"):
        table.add_column(column)
    for row in index_rows:
        target = f"{','.join(row['labelsOrTypes'] or [])}({','.join(row['properties'] or [])})"
        if row["type"] == "VECTOR" and row.get("config"):
            cfg = row["config"]
            target += f" dim={cfg.get('vector.dimensions')} {cfg.get('vector.similarity_function')}"
        table.add_row(row["name"], row["type"], target, row["state"],
                      f"{row['populationPercent']:.0f}%")
    console.print(table)


# ------------------------------------------------------------------ completion
@main.command(context_settings=CONTEXT)
@click.argument("relation")
@click.option("-k", "k", type=click.IntRange(1, 1000), default=1, show_default=True,
              help="Predicted tails per head entity.")
@click.option("--min-score", type=float, help="Only predictions scoring at least this.")
@click.option("--limit", type=click.IntRange(1), default=1000, show_default=True,
              help="At most this many predicted edges in all (the best ones).")
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True,
              help="Head entities per sidecar request.")
@click.option("--dry-run", is_flag=True, help="Show what would be added; write nothing.")
@click.option("--show", type=click.IntRange(0), default=10, show_default=True,
              help="How many of the predicted edges to print.")
@connection_options
@click.pass_context
def complete(ctx: click.Context, relation: str, k: int, min_score: float | None, limit: int, batch_size: int,
             dry_run: bool, show: int, **conn: Any) -> None:
    """Add predicted RELATION edges for every entity that has RELATION facts.

    Runs `CALL kgstore.complete(RELATION, {...})` inside Neo4j, exactly as a Cypher user
    would: the plugin asks the decoder sidecar (`kgstore serve`) for each head's top-k
    tails that are not known facts and writes them, in one transaction, as
    (h)-[:KGSTORE_PREDICTED {relation, score, model, version, created_at}]->(t).
    Re-running refreshes existing predictions instead of duplicating them.

    \b
    Example:
      kgstore serve --model demo &
      kgstore complete interacts_with -k 1 --limit 20
    """
    from kgstore import predictions

    with open_graph(ctx, **conn) as graph:
        rows = predictions.complete(graph, relation, k=k, min_score=min_score, limit=limit, dry_run=dry_run,
                                    batch_size=batch_size)
    created = sum(r.created for r in rows)
    verb = "would be written (dry run)" if dry_run else f"written: {created} new, {len(rows) - created} refreshed"
    echo(f"{len(rows)} predicted {relation!r} edges {verb}.")
    if rows and show:
        table = Table(title=f"predicted {relation} (best {min(show, len(rows))})")
        for column in ("head", "tail", "score", "new"):
            table.add_column(column, justify="right" if column == "score" else "left")
        for row in sorted(rows, key=lambda r: -r.score)[:show]:
            table.add_row(row.head, row.tail, f"{row.score:.4f}", "yes" if row.created else "no")
        Console().print(table)


@main.group("predictions", context_settings=CONTEXT)
def predictions_group() -> None:
    """Predicted edges (KGSTORE_PREDICTED): list, drop, or accept them as facts.

    Predictions never count as facts: training and evaluation skip them. In Cypher,
    `MATCH ()-[p:KGSTORE_PREDICTED]->() DELETE p` removes them all.
    """


def _prediction_filters(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option("--relation", metavar="NAME", help="Only predictions of this relation.")(command)
    return click.option("--model", metavar="NAME", help="Only predictions made by this model.")(command)


@predictions_group.command("list", context_settings=CONTEXT)
@_prediction_filters
@click.option("--min-score", type=float, help="Only predictions scoring at least this.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="How many to print.")
@connection_options
@click.pass_context
def predictions_list(ctx: click.Context, model: str | None, relation: str | None, min_score: float | None,
                     limit: int, **conn: Any) -> None:
    """Print predicted edges, best first, and how many there are in all."""
    from kgstore import predictions

    with open_graph(ctx, **conn) as graph:
        rows = predictions.list_predictions(graph, model=model, relation=relation, min_score=min_score,
                                            limit=limit)
        total = predictions.count_predictions(graph, model=model, relation=relation)
    if not rows:
        echo("No predicted edges" + (" match." if model or relation or min_score is not None else " yet."))
        return
    table = Table(title=f"predicted edges ({len(rows)} of {total:,})")
    for column in ("head", "relation", "tail", "score", "model", "created"):
        table.add_column(column, justify="right" if column == "score" else "left")
    for row in rows:
        table.add_row(row["head"], row["relation"], row["tail"], f"{row['score']:.4f}",
                      f"{row['model']}@{row['version']}" if row["version"] else str(row["model"]),
                      str(row["created_at"])[:19])
    Console().print(table)


@predictions_group.command("drop", context_settings=CONTEXT)
@_prediction_filters
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@connection_options
@click.pass_context
def predictions_drop(ctx: click.Context, model: str | None, relation: str | None, yes: bool, **conn: Any) -> None:
    """Delete predicted edges (all of them, or one model's or relation's). Facts are never touched."""
    from kgstore import predictions

    with open_graph(ctx, **conn) as graph:
        count = predictions.count_predictions(graph, model=model, relation=relation)
        if count == 0:
            echo("No predicted edges to drop.")
            return
        if not yes:
            click.confirm(f"Delete {count:,} predicted edges?", abort=True)
        dropped = predictions.drop_predictions(graph, model=model, relation=relation)
    echo(f"Dropped {dropped:,} predicted edges.")


@predictions_group.command("accept", context_settings=CONTEXT)
@_prediction_filters
@click.option("--min-score", type=float, help="Only predictions scoring at least this.")
@connection_options
@click.pass_context
def predictions_accept(ctx: click.Context, model: str | None, relation: str | None, min_score: float | None,
                       **conn: Any) -> None:
    """Turn predictions into facts of their relation (split train), removing the predictions.

    The next `kgstore train` learns from them; each keeps `accepted_from` (the model) and
    its score.
    """
    from kgstore import predictions

    with open_graph(ctx, **conn) as graph:
        accepted = predictions.accept_predictions(graph, model=model, relation=relation, min_score=min_score)
    echo(f"Accepted {accepted:,} predictions as facts.")






if __name__ == "__main__":
    main()
