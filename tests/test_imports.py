"""Imports: every module imports on its own, no project modules import each other in a cycle,
and the light paths (``kgstore`` itself, ``kgstore export``, the CLI's choices) import no torch.

Each module is imported alone in a fresh interpreter, so a module that only works because
another one happened to be imported first fails here. The cycle check reads the sources
with :mod:`ast` (imports that run when a module is imported: module level, not inside
functions, not under ``if TYPE_CHECKING``), so it needs none of the extras.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.extras import in_ci

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("kgstore", "trainer")
TORCH_FREE = ("trainer.export", "trainer.snapshot", "trainer.config", "trainer.threads", "trainer.checkpoint")
"""`kgstore export` (export + snapshot), the CLI's choices (config), set_threads' module, and the
checkpoint format (``kgstore models`` may read a checkpoint's metrics without the train extra)."""


def module_files() -> dict[str, Path]:
    """Every module of the project packages, by dotted name (a package by its ``__init__``)."""
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


MODULES = module_files()


# -- (1) every module alone -------------------------------------------------------------------
_IMPORT_ALONE = f"""
import importlib, json, sys
try:
    importlib.import_module(sys.argv[1])
except ModuleNotFoundError as exc:
    if (exc.name or "").split(".")[0] in {PACKAGES!r}:
        raise
    print(json.dumps({{"missing": exc.name}}))
else:
    print(json.dumps({{"torch": "torch" in sys.modules}}))
"""


def import_alone(module: str) -> tuple[str, subprocess.CompletedProcess]:
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    return module, subprocess.run([sys.executable, "-c", _IMPORT_ALONE, module], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # one interpreter per module: about a minute and a half on two cores
def test_every_module_imports_alone() -> None:
    """``python -c "import X"`` succeeds for every module; ``kgstore`` modules import no torch.

    ``__main__`` modules are programs (importing one runs it) and are left out.
    """
    modules = [m for m in MODULES if not m.endswith(".__main__")]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = dict(pool.map(import_alone, modules))
    failures, missing, torch_users = [], {}, []
    for module, done in sorted(results.items()):
        if done.returncode != 0:
            failures.append(f"{module}:\n{done.stderr.strip()[-2000:]}")
            continue
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        if "missing" in answer:
            missing[module] = answer["missing"]
        elif answer["torch"] and module.split(".")[0] == "kgstore":
            torch_users.append(module)
    assert not failures, "modules that fail to import on their own:\n\n" + "\n\n".join(failures)
    assert not torch_users, f"kgstore modules that import torch (the driver and CLI must work without it): " \
                            f"{torch_users}"
    if missing:
        message = ", ".join(f"{m} (needs {p})" for m, p in missing.items())
        if in_ci():
            pytest.fail(f"CI must import every module, but an extra is missing: {message}")
        pytest.skip(reason=f"modules not imported for want of an optional extra: {message}")


# -- (2) no import cycles -------------------------------------------------------------------------
def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_statements(body: list[ast.stmt], *, inside_functions: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements that run when the module is imported (never those under ``if TYPE_CHECKING``);
    with ``inside_functions``, also those that run when its functions are called."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_statements(node.body, inside_functions=inside_functions)
            yield from _import_statements(node.orelse, inside_functions=inside_functions)
        elif isinstance(node, ast.Try | ast.TryStar):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                yield from _import_statements(block, inside_functions=inside_functions)
        elif isinstance(node, ast.With | ast.ClassDef | ast.For | ast.While):
            yield from _import_statements(node.body, inside_functions=inside_functions)
        elif inside_functions and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _import_statements(node.body, inside_functions=inside_functions)


def _with_packages(name: str) -> list[str]:
    """``a.b.c`` and the packages importing it runs first (``a.b``, ``a``)."""
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def import_graph(*, inside_functions: bool = False) -> dict[str, set[str]]:
    """Module -> the project modules its import runs (an import of ``a.b.c`` runs ``a`` and ``a.b`` too),
    and with ``inside_functions`` also those its functions import when called.

    A module's own enclosing packages are left out: Python has already started them when
    the module runs, so ``a/b/c.py`` importing ``a.b`` (whose ``__init__`` imports ``c``) is
    no cycle.
    """
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        is_package = path.name == "__init__.py"
        enclosing = set(_with_packages(module)[1:]) | {module}
        targets: set[str] = set()
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _import_statements(tree.body, inside_functions=inside_functions):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                if node.level:
                    package = module.split(".") if is_package else module.split(".")[:-1]
                    base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else []))
                else:
                    base = node.module or ""
                names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                         for alias in node.names]
            for name in names:
                targets.update(n for n in _with_packages(name) if n in MODULES and n not in enclosing)
        graph[module] = targets
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected group of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:  # Tarjan's algorithm; the graph is small, recursion is fine
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_in(graph, set(group)) for group in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A path from the group's first module back to itself, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(graph[node] & group):
            if target == start:
                return [*paths[node], start]
            if target not in paths:
                paths[target] = [*paths[node], target]
                frontier.append(target)
    raise AssertionError(f"no cycle through {start} in {sorted(group)}")


@pytest.mark.parametrize("inside_functions", [False, True], ids=["at-import", "in-functions-too"])
def test_no_import_cycles(inside_functions: bool) -> None:
    """No cycle at import time, and none through the imports that functions make late either:
    a late import that closes a cycle (``checkpoint`` <-> ``modalities`` once) is two modules
    with one job."""
    cycles = find_cycles(import_graph(inside_functions=inside_functions))
    assert not cycles, "modules that import each other:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check itself: a made-up graph with one cycle gives that cycle."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_kgstore_never_imports_trainer_when_imported() -> None:
    """DESIGN's import rule: ``kgstore`` imports ``trainer`` only inside the commands that need it."""
    graph = import_graph()
    offenders = {m: sorted(t for t in targets if t.split(".")[0] == "trainer")
                 for m, targets in graph.items() if m.split(".")[0] == "kgstore"}
    assert not {m: t for m, t in offenders.items() if t}


# -- (3) the light paths need no torch ---------------------------------------------------------------
def test_export_snapshot_and_config_import_no_torch() -> None:
    """``kgstore export`` runs without the torch extra; the CLI reads its choices without torch."""
    code = ("import sys\n"
            f"for name in {TORCH_FREE!r}:\n"
            "    __import__(name)\n"
            "from trainer.config import DECODER_NAMES, LOSSES, OPTIMIZERS\n"
            "assert DECODER_NAMES and LOSSES and OPTIMIZERS\n"
            "heavy = sorted(m for m in ('torch', 'torch_geometric', 'fastapi', 'open_clip') if m in sys.modules)\n"
            "print(','.join(heavy))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"importing {', '.join(TORCH_FREE)} imported {done.stdout.strip()}"
