"""Locating (and, in a source checkout, building) the kgstore Neo4j plugin jar.

The jar is built against the API of the server it goes into: Neo4j 5.26 (the pom's
default, Java 17 bytecode, in ``plugin/target``) or, for a calendar release, that
release (the pom's ``neo4j-calendar`` profile with ``-Dneo4j.version=V``, Java 21
bytecode, built by Maven running on the server's own JDK, in ``plugin/target/neo4j-V``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from kgstore.errors import ServerError
from kgstore.server.neo4j_dist import (
    choose_maven,
    default_cache_dir,
    is_calendar_version,
    parallel_flags,
    resolver_threads,
)

PLUGIN_JAR_ENV = "KGSTORE_PLUGIN_JAR"
PLUGIN_DIR = Path(__file__).resolve().parents[2] / "plugin"  # the checkout's plugin/, two folders up
JAR_GLOB = "kgstore-plugin-*.jar"
CALENDAR_PROFILE = "neo4j-calendar"


def build_dir(plugin_dir: Path = PLUGIN_DIR, neo4j_version: str | None = None) -> Path:
    """Where Maven puts the jar built for ``neo4j_version`` (None or 5.26.x: the default build)."""
    if neo4j_version and is_calendar_version(neo4j_version):
        return plugin_dir / "target" / f"neo4j-{neo4j_version}"
    return plugin_dir / "target"


def build_command(mvn: str, plugin_dir: Path = PLUGIN_DIR, neo4j_version: str | None = None,
                  flags: tuple[str, ...] = ()) -> list[str]:
    """The Maven command that builds the jar for ``neo4j_version``.

    ``-Dmaven.test.skip=true``: tests neither compiled nor run, and the pom's ``plugin-tests``
    profile (the harness, a whole Neo4j server, and the test libraries) is off, so nothing
    of it is downloaded.
    """
    command = [mvn, "-B", "-q", "-f", str(plugin_dir / "pom.xml"), "package", "-Dmaven.test.skip=true", *flags]
    if neo4j_version and is_calendar_version(neo4j_version):
        command += [f"-P{CALENDAR_PROFILE}", f"-Dneo4j.version={neo4j_version}"]
    return command


def _newest_mtime(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)


def built_jar(plugin_dir: Path = PLUGIN_DIR, neo4j_version: str | None = None) -> Path | None:
    jars = sorted(build_dir(plugin_dir, neo4j_version).glob(JAR_GLOB))
    jars = [j for j in jars if not j.name.startswith("original-")]
    return jars[-1] if jars else None


def build_plugin(plugin_dir: Path = PLUGIN_DIR, echo: Callable[[str], None] = print, *,
                 neo4j_version: str | None = None, java: str | None = None) -> Path:
    """Build the shaded jar with Maven (tests skipped: `mvn -f plugin/pom.xml package` runs them).

    ``neo4j_version``: the server's version (its API is compiled against); ``java``: the
    server's java executable, whose JDK runs Maven (a calendar release needs JDK 21+).
    Maven is the one that resolved Neo4j (``neo4j_dist.choose_maven``: 3.9+, resolving in
    parallel), so a first build on an empty local repository is not a serial download.
    """
    mvn, version = choose_maven(default_cache_dir(), echo)
    command = build_command(mvn, plugin_dir, neo4j_version, tuple(parallel_flags(version, resolver_threads())))
    env = dict(os.environ)
    if java:
        env["JAVA_HOME"] = str(Path(java).resolve().parents[1])
    echo(f"Building the kgstore plugin: {' '.join(command)}")
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=env)
    jar = built_jar(plugin_dir, neo4j_version)
    if result.returncode != 0 or jar is None:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise ServerError(
            f"building the kgstore plugin failed (mvn exited {result.returncode}):\n{tail}",
            hint=f"Retry with: mvn -f {plugin_dir / 'pom.xml'} package (it runs the tests too)",
        )
    return jar


def find_plugin_jar(
    explicit: Path | None = None, echo: Callable[[str], None] = print, *,
    neo4j_version: str | None = None, java: str | None = None,
) -> Path | None:
    """The jar to install: ``explicit``, ``$KGSTORE_PLUGIN_JAR``, or the checkout's own build.

    In a source checkout the jar for ``neo4j_version`` is (re)built when missing or older
    than its sources (see :func:`build_plugin`).
    A wheel install without a checkout returns None: the caller says how to get one.
    """
    chosen = explicit or (Path(os.environ[PLUGIN_JAR_ENV]) if os.environ.get(PLUGIN_JAR_ENV) else None)
    if chosen is not None:
        if not chosen.is_file():
            raise ServerError(f"plugin jar {chosen} does not exist.",
                              hint=f"Build it with `mvn -f plugin/pom.xml package` or unset {PLUGIN_JAR_ENV}.")
        return chosen
    if not (PLUGIN_DIR / "pom.xml").is_file():
        return None
    jar = built_jar(neo4j_version=neo4j_version)
    sources = max(_newest_mtime(PLUGIN_DIR / "src"), (PLUGIN_DIR / "pom.xml").stat().st_mtime)
    if jar is None or jar.stat().st_mtime < sources:
        jar = build_plugin(echo=echo, neo4j_version=neo4j_version, java=java)
    return jar


def install_plugin_jar(jar: Path, plugins_dir: Path) -> Path:
    """Copy ``jar`` into ``plugins_dir``, replacing older kgstore plugin jars."""
    plugins_dir.mkdir(parents=True, exist_ok=True)
    for old in plugins_dir.glob(JAR_GLOB):
        old.unlink()
    target = plugins_dir / jar.name
    shutil.copy2(jar, target)
    return target
