"""What every command shares: the context settings, connection options, the error shell,
lazily resolved choices and the trainer check.

A command module imports from here and from :mod:`kgstore.cli.render`; the library does
the work.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import click

from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
TRAIN_HINT = "training needs the `train` extra: pip install 'kgstore[train]'"


def echo(message: str) -> None:
    click.echo(message, err=False)


def home_of(ctx: click.Context) -> KgstoreHome:
    return KgstoreHome(ctx.find_root().obj.get("home") if ctx.find_root().obj else None)


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


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: print one JSON document on stdout instead of tables (for scripts)."""
    return click.option("--json", "as_json", is_flag=True,
                        help="Print JSON on stdout instead of tables (progress stays on stderr).")(command)


def open_graph(ctx: click.Context, uri: str | None, user: str | None, password: str | None,
               database: str | None):  # noqa: ANN201 - returns kgstore.Graph
    """Connect as the connection options say; the URI is kept for the error shell's messages."""
    from kgstore.driver import connect

    graph = connect(uri, user, password, database, home=home_of(ctx))
    root = ctx.find_root()
    if root.obj is not None:
        root.obj["neo4j_uri"] = graph.settings.uri
    return graph


def need_trainer() -> None:
    """Fail with the install hint when the ``train`` extra (torch, PyG) is missing."""
    import trainer  # noqa: F401 - before PyG: it silences a warning PyG's import triggers (trainer/__init__.py)

    try:
        import torch  # noqa: F401
        import torch_geometric  # noqa: F401
    except ImportError as exc:
        raise KgstoreError(f"{exc.name} is not installed", hint=TRAIN_HINT) from exc


def namespaces(datasets: tuple[str, ...]) -> list[str] | None:
    return sorted(datasets) or None


class RegistryChoice(click.Choice):
    """A choice whose values are a library registry's names, read when first needed.

    The registries live in the library (``trainer.config.LOSSES``, the decoder registry,
    ``kgstore.writeback.SIMILARITIES``), so the CLI never keeps a copy of a list; reading
    them late keeps ``import kgstore.cli`` free of the trainer package.
    """

    def __init__(self, target: str, *, hint: str | None = None) -> None:
        self.target = target  # "module:ATTRIBUTE" (a sequence of names) or "module:function" (returns one)
        self.hint = hint
        self.case_sensitive = True
        self._names: tuple[str, ...] | None = None

    @property
    def choices(self) -> Sequence[str]:  # type: ignore[override]
        if self._names is None:
            module, _, attribute = self.target.partition(":")
            try:
                value = getattr(importlib.import_module(module), attribute)
            except ImportError as exc:
                raise KgstoreError(f"{exc.name} is not installed", hint=self.hint) from exc
            self._names = tuple(value() if callable(value) else value)
        return self._names

    @choices.setter
    def choices(self, _value: Sequence[str]) -> None:  # click.Choice.__init__ assigns it; the registry wins
        pass

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str | None:
        try:
            return super().get_metavar(param, ctx)
        except KgstoreError:  # --help without the extra that owns the registry: no list to show
            return "NAME"


def default_of(ctx: click.Context, name: str) -> bool:
    """Whether option ``name`` was left at its default (not typed, not from the environment)."""
    source = ctx.get_parameter_source(name)
    return source in (None, click.core.ParameterSource.DEFAULT)


class _DriverRetryNotice(logging.Handler):
    """The driver's warnings while Neo4j is unreachable, as one line instead of dozens.

    With no logging configured, Python prints every ``neo4j`` warning: a dead server mid-command
    gives a "Transaction failed and will be retried" line per attempt and per writer, plus
    connection errors, for the 30 s (plus the last back-off) the driver retries. The user needs
    to know once that kgstore is waiting; the error shell says what happened when retries end.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.shown = False

    @classmethod
    def install(cls) -> None:
        driver_log = logging.getLogger("neo4j")
        for handler in driver_log.handlers:
            if isinstance(handler, cls):
                handler.shown = False  # one notice per command (tests run many in one process)
                return
        driver_log.addHandler(cls())

    def emit(self, record: logging.LogRecord) -> None:
        if self.shown or "will be retried" not in record.getMessage():
            return
        self.shown = True
        click.echo("Neo4j does not answer; the driver retries for up to a minute before giving up ...", err=True)


RESUMABLE_COMMANDS = frozenset({"sync"})  # re-running them continues from the last committed batch


class KgstoreGroup(click.Group):
    """The one error shell of every command: a short message and exit code 1, no traceback.

    It turns a :class:`KgstoreError` into its message and hint, and a connection to Neo4j
    that broke or was refused mid-command (the driver's ``ServiceUnavailable``,
    ``SessionExpired``, ``IncompleteCommit``, a refused socket) into one message that says
    what happened, whether a re-run resumes, and how to check the server. Anything else is
    a bug and keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        _DriverRetryNotice.install()
        try:
            return super().invoke(ctx)
        except KgstoreError as exc:
            self._fail(ctx, exc)
        except Exception as exc:
            from kgstore.driver import connection_lost

            lost = connection_lost(exc, uri=(ctx.obj or {}).get("neo4j_uri"),
                                   resumable=ctx.invoked_subcommand in RESUMABLE_COMMANDS)
            if lost is None:
                raise
            self._fail(ctx, lost)

    @staticmethod
    def _fail(ctx: click.Context, exc: KgstoreError) -> None:
        click.secho(f"Error: {exc.message}", fg="red", err=True)
        if exc.hint:
            click.echo(exc.hint, err=True)
        for note in getattr(exc, "__notes__", ()):  # e.g. a cleanup that failed as well
            click.echo(note, err=True)
        ctx.exit(1)
