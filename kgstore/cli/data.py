"""Data in and out: ``kgstore schema``, ``sync``, ``datasets`` and ``export``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from kgstore.cli import render
from kgstore.cli.common import CONTEXT, connection_options, echo, home_of, json_option, namespaces, open_graph
from kgstore.errors import KgstoreError


@click.group(context_settings=CONTEXT)
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


def _parse_triple_option(value: str) -> tuple[str | None, Path]:
    from kgstore.importers.records import SPLITS

    split, sep, path = value.partition("=")
    if sep and split in SPLITS:
        return split, Path(path)
    return None, Path(value)


@click.command(context_settings=CONTEXT)
@click.argument("dataset", required=False, metavar="[NAME|FILE|FOLDER]")
@click.option("--source", type=click.Path(path_type=Path), metavar="PATH",
              help="Where a named dataset's files are (its folder, or a folder of dataset folders). "
              "[env KGSTORE_DATA]")
@click.option("--namespace", metavar="NS", help="Key prefix of this dataset's entities "
              "(`NS:id`). [default: the dataset name, or the file's or folder's name]")
@click.option("--triples", "triple_files", multiple=True, metavar="[SPLIT=]FILE",
              help="A triples file (TSV/CSV: head, relation, tail[, split][, properties...]; or JSON Lines "
              "with those keys); "
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
@click.option("--bulk", is_flag=True,
              help="First load with Neo4j's offline importer (neo4j-admin database import full) into the managed "
                   "server's empty database: the same graph, several times faster; the server restarts once. "
                   "Later syncs run online on top of it.")
@connection_options
@click.pass_context
def sync(ctx: click.Context, dataset: str | None, source: Path | None, namespace: str | None,
         triple_files: tuple[str, ...], entity_files: tuple[Path, ...], image_source: Path | None,
         options: tuple[str, ...], fmt: str | None, encoding: str, split_column: str, on_error: str, batch_size: int,
         image_store: Path | None, bulk: bool, **conn: Any) -> None:
    """Import a dataset into Neo4j: triples with their splits, entity text, images.

    DATASET is a known name (`kgstore datasets list`); a triples file (TSV, CSV or JSON
    Lines of head, relation, tail, read as --triples reads it); a folder holding train.txt,
    valid.txt and test.txt; or a folder in OpenKE's id format (entity2id.txt, train2id.txt,
    ...). A file or folder is namespaced by its name (facts.tsv -> facts) unless --namespace
    says otherwise. Or give your own files with --triples/--entities/--images.
    Input is validated before anything is written; re-running changes nothing; a killed
    run resumes where it stopped.

    \b
    Examples:
      kgstore sync facts.tsv
      kgstore sync fb15k-237 --source ../shared/data
      kgstore sync path/to/folder-with-train-valid-test
      kgstore sync path/to/openke-folder
      kgstore sync --namespace mykg --triples facts.csv --entities people.jsonl --images photos/
      kgstore sync big-folder/ --bulk      # first load, offline importer (managed server, empty database)
    """
    from kgstore.importers.files import FileSource, TripleFile, file_namespace
    from kgstore.importers.input_errors import InputErrors
    from kgstore.importers.registry import open_dataset, triples_file
    from kgstore.sync import sync_dataset

    errors = InputErrors(policy=on_error)  # type: ignore[arg-type]
    files = [TripleFile(path, split) for split, path in map(_parse_triple_option, triple_files)]
    if dataset and (path := triples_file(dataset)) is not None:  # `kgstore sync facts.tsv`: one more --triples
        if source is not None or options:
            raise click.UsageError(f"{dataset} is a triples file: --source and --option belong to named datasets")
        files.insert(0, TripleFile(path))
        namespace = namespace or file_namespace(path)
        dataset = None
    if files or entity_files or image_source:
        if dataset:
            raise click.UsageError("give either a DATASET or --triples/--entities/--images, not both")
        if not namespace:
            raise click.UsageError("--namespace is required with --triples/--entities/--images")
        source_ds = FileSource(namespace=namespace, triple_files=files, entity_files=list(entity_files),
                               image_source=image_source, fmt=fmt, encoding=encoding,
                               split_column=split_column, errors=errors)
    elif dataset:
        extra = {}
        for option in options:
            key, sep, value = option.partition("=")
            if not sep or not key:
                raise click.BadParameter(f"{option!r} is not KEY=VALUE", param_hint="--option")
            extra[key] = value
        source_ds = open_dataset(dataset, source=source, namespace=namespace, errors=errors, **extra)
    else:
        raise click.UsageError("name a DATASET (see `kgstore datasets list`) or give --triples FILE")

    home = home_of(ctx)
    store = image_store or home.images_dir
    if bulk:
        from kgstore.bulk import bulk_sync
        from kgstore.server import ManagedServer

        echo(f"Bulk-loading {source_ds.namespace} from {source_ds.root} into the managed server in {home.root}")
        with _progress() as hook:
            summary = bulk_sync(source_ds, server=ManagedServer(home), connect=lambda: open_graph(ctx, **conn),
                                image_store=store, triple_batch_size=batch_size, progress=hook, echo=echo)
        _print_sync_summary(summary)
        return
    with open_graph(ctx, **conn) as graph:
        where = files[0].path if len(files) == 1 and not entity_files else source_ds.root
        echo(f"Syncing {source_ds.namespace} from {where} into {graph.settings.uri}")
        with _progress() as hook:
            summary = sync_dataset(graph, source_ds, image_store=store, triple_batch_size=batch_size,
                                   progress=hook)
    _print_sync_summary(summary)


class _progress:
    """A rich progress bar per phase, on stderr, hidden when stderr is not a terminal."""

    def __enter__(self):  # noqa: ANN204
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=Console(stderr=True), transient=False)
        self.progress.start()
        return self.hook

    def hook(self, phase: str, total: int):  # noqa: ANN201
        for earlier in self.progress.tasks:  # a new phase ends the earlier ones: their clocks stop
            if not earlier.finished:
                self.progress.update(earlier.id, total=earlier.completed)
        task = self.progress.add_task(phase, total=total or None)
        return lambda n: self.progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()


def _print_sync_summary(summary) -> None:  # noqa: ANN001 - kgstore.sync.SyncSummary
    rows = [["entities", summary.entities_created, summary.entities_updated, summary.entities_unchanged, ""],
            ["triples", summary.triples_created, summary.triples_updated or "",
             summary.triples_existing - summary.triples_updated + summary.triples_resumed,
             f"{summary.duplicate_triples:,} repeated" if summary.duplicate_triples else ""]]
    if summary.images_linked or summary.images_existing or summary.images_stored:
        rows.append(["images", f"{summary.images_linked:,} linked", f"{summary.images_stored:,} stored",
                     summary.images_existing, ""])
    rows.append(["bad lines", "", "", "", len(summary.skipped)])
    render.table(f"kgstore sync {summary.namespace} ({summary.mode})",
                 ["what", *((c, "right") for c in ("created", "updated", "unchanged/existing", "skipped"))], rows)
    console = render.console()
    splits = ", ".join(f"{k} {v:,}" for k, v in sorted(summary.triples_by_split.items()))
    console.print(f"triples by split: {splits}")
    console.print(f"{summary.seconds:.1f} s, {summary.triples_per_second:,.0f} triples/s")
    if summary.phases:
        console.print("phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in summary.phases.items()))
    for problem in summary.skipped:
        console.print(f"[yellow]skipped[/] {problem}", markup=True, highlight=False)
    if not summary.changed:
        console.print("Nothing changed: the database already held this dataset.")


@click.group(context_settings=CONTEXT)
def datasets() -> None:
    """Known datasets: what they are, whether their files are here, how to get them."""


@datasets.command("list", context_settings=CONTEXT)
@click.option("--source", type=click.Path(path_type=Path), help="A folder of dataset folders. [env KGSTORE_DATA]")
@json_option
def datasets_list(source: Path | None, as_json: bool) -> None:
    """List the named datasets `kgstore sync` knows, and where their files were found."""
    from kgstore.importers.registry import dataset_table

    rows = dataset_table(source)
    if as_json:
        render.emit_json({"datasets": rows})
        return
    render.table("kgstore datasets", ["name", "present", "where", "description"],
                 ([row["name"], row["present"], str(row["path"] or "-"), row["description"]] for row in rows))


@datasets.command("download", context_settings=CONTEXT)
@click.argument("name")
@click.option("--dest", type=click.Path(path_type=Path), help="Folder to put the files in. "
              "[default: the per-user data folder]")
def datasets_download(name: str, dest: Path | None) -> None:
    """Download NAME from its official URLs and verify every file's sha256 (needs network)."""
    from kgstore.importers.registry import download

    folder = download(name, dest, echo=echo)
    echo(f"{name} is in {folder}; import it with: kgstore sync {name} --source {folder}")



@datasets.command("synth", context_settings=CONTEXT)
@click.argument("out", type=click.Path(path_type=Path), metavar="OUT/")
@click.option("--triples", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Distinct triples in all splits together.")
@click.option("--entities", type=click.IntRange(min=2), metavar="N",
              help="Entities (each one heads at least one train triple). [default: triples / 10]")
@click.option("--relations", type=click.IntRange(min=1), default=200, show_default=True,
              help="Relation types (each one used in train).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Random seed: the same options give the same bytes.")
@click.option("--valid-fraction", type=float, default=0.05, show_default=True,
              help="Share of the triples held out for validation.")
@click.option("--test-fraction", type=float, default=0.05, show_default=True,
              help="Share of the triples held out for testing.")
@click.option("--exponent", type=float, default=0.8, show_default=True,
              help="Zipf exponent of entity and relation popularity (0: uniform; larger: heavier hubs).")
@json_option
def datasets_synth(out: Path, triples: int, entities: int | None, relations: int, seed: int,
                   valid_fraction: float, test_fraction: float, exponent: float, as_json: bool) -> None:
    """Write a synthetic power-law graph to OUT/ as train.txt, valid.txt and test.txt.

    Entities have types and each relation links one head type to one tail type; degrees and
    relation frequencies follow Zipf's law. No triple repeats, and every entity and relation
    of valid and test also appears in train. `kgstore sync OUT/` imports it (namespace: the
    folder's name). See kgstore/importers/synth.py for how it is drawn.

    \b
    Example:
      kgstore datasets synth g10m/ --triples 10000000 --relations 500 --seed 1
      kgstore sync g10m/
    """
    from kgstore.importers.synth import SynthSpec, default_entities, write_synth

    spec = SynthSpec(entities=entities if entities is not None else default_entities(triples),
                     relations=relations, triples=triples, seed=seed, valid_fraction=valid_fraction,
                     test_fraction=test_fraction, exponent=exponent)
    result = write_synth(out, spec)
    if as_json:
        render.emit_json({"folder": str(result.folder), "entities": spec.entities, "relations": spec.relations,
                          "triples_by_split": result.counts, "seconds": round(result.seconds, 3)})
        return
    splits = ", ".join(f"{split} {count:,}" for split, count in result.counts.items())
    echo(f"Wrote {sum(result.counts.values()):,} triples ({splits}) over {spec.entities:,} entities and "
         f"{spec.relations:,} relations to {out} in {result.seconds:.1f} s; import it with: kgstore sync {out}")


@click.command(context_settings=CONTEXT)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--dataset", "datasets", multiple=True, metavar="NS",
              help="Only entities of this dataset namespace (repeatable). [default: all]")
@click.option("--refresh", is_flag=True, help="Export again even if the graph looks unchanged.")
@connection_options
@click.pass_context
def export(ctx: click.Context, path: Path, datasets: tuple[str, ...], refresh: bool, **conn: Any) -> None:
    """Write a portable graph snapshot to PATH (for a GPU machine that cannot reach Neo4j).

    Needs only numpy and pyarrow (the `train` extra brings them; torch is not used). Train
    from it elsewhere with `kgstore train --snapshot PATH --no-write-back`, then bring the
    checkpoint back and run `kgstore write-back CHECKPOINT`.
    """
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise KgstoreError(f"{exc.name} is not installed",
                           hint="snapshots need pyarrow: pip install pyarrow (or 'kgstore[train]')") from exc
    from trainer.export import export_snapshot

    with open_graph(ctx, **conn) as graph:
        snapshot = export_snapshot(graph, path, namespaces=namespaces(datasets), refresh=refresh)
    counts = snapshot.meta.get("num_triples", {})
    echo(f"Snapshot in {path}: {snapshot.num_entities:,} entities, {snapshot.num_relations:,} relations, "
         + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
