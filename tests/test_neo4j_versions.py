"""Neo4j version lines, parallel Maven resolution and install progress: no server, no network.

The end-to-end run on the newest calendar release is tests/test_calendar_release.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kgstore.errors import ServerError
from kgstore.server.neo4j_dist import (
    NEO4J_SERIES_RANGE,
    TransferCount,
    find_distribution,
    is_calendar_version,
    parallel_flags,
    parse_version_spec,
    required_java,
    run_maven,
)
from kgstore.server.plugin_jar import build_command, build_dir
from kgstore.vector_query import has_search_clause, node_vector_query


@pytest.mark.parametrize(("text", "maven", "calendar"), [
    (None, NEO4J_SERIES_RANGE, False),
    ("5.26", NEO4J_SERIES_RANGE, False),
    ("5.26.30", "5.26.30", False),
    ("2026", "[2026,2027)", True),
    ("2026.08", "[2026.08,2026.09)", True),
    ("2025.12", "[2025.12,2025.13)", True),
    ("2026.08.1", "2026.08.1", True),
    ("latest", "[2025.01.0,)", True),
])
def test_version_specs(text: str | None, maven: str, calendar: bool) -> None:
    spec = parse_version_spec(text)
    assert (spec.maven, spec.calendar) == (maven, calendar)


@pytest.mark.parametrize("text", ["5.25", "4.4.30", "5", "six", "2026.08.1-rc1", ""])
def test_unsupported_versions_say_what_is_allowed(text: str) -> None:
    with pytest.raises(ServerError) as caught:
        parse_version_spec(text or "x")
    assert "latest" in caught.value.hint and "2026.08.1" in caught.value.hint


def test_calendar_releases_need_java_21() -> None:
    assert is_calendar_version("2026.08.1") and not is_calendar_version("5.26.30")
    assert (required_java("5.26.30"), required_java("2025.01.0")) == (17, 21)


def test_cached_versions_match_their_line(tmp_path: Path) -> None:
    for version in ("5.26.29", "5.26.30", "2026.07.1", "2026.08.1", "2025.12.1"):
        (tmp_path / version).mkdir()
        (tmp_path / version / "kgstore-dist.json").write_text(f'{{"version": "{version}"}}')
    found = {text: getattr(find_distribution(text, tmp_path), "version", None)
             for text in (None, "5.26", "5.26.29", "latest", "2026", "2026.07", "2025", "2026.09", "2026.08.1")}
    assert found == {None: "5.26.30", "5.26": "5.26.30", "5.26.29": "5.26.29", "latest": "2026.08.1",
                     "2026": "2026.08.1", "2026.07": "2026.07.1", "2025": "2025.12.1", "2026.09": None,
                     "2026.08.1": "2026.08.1"}


def test_parallel_flags_follow_the_maven_version() -> None:
    old = parallel_flags((3, 8, 7), 16)
    assert "-Daether.connector.basic.threads=16" in old
    assert not any("dependencyCollector" in flag for flag in old)
    new = parallel_flags((3, 9, 11), 16)
    assert "-Daether.dependencyCollector.impl=bf" in new and "-Daether.dependencyCollector.bf.threads=16" in new


def test_transfer_lines_are_counted() -> None:
    count = TransferCount()
    lines = [
        "Downloading from central: https://repo.example/org/neo4j/neo4j/5.26.30/neo4j-5.26.30.pom",
        "Downloaded from central: https://repo.example/org/neo4j/neo4j/5.26.30/neo4j-5.26.30.pom (4.2 kB at 20 kB/s)",
        "[INFO] Downloaded from central: https://repo.example/a/b/1/b-1.jar (1.5 MB at 3.0 MB/s)",
        "Downloaded from central: https://repo.example/a/maven-metadata.xml (812 B at 4 kB/s)",
        "[INFO] BUILD SUCCESS",
    ]
    assert [count.feed(line) for line in lines] == [False, True, True, True, False]
    assert (count.poms, count.jars, count.other) == (1, 1, 1)
    assert count.megabytes == pytest.approx(0.0042 + 1.5 + 0.000812)
    assert "1 POMs, 1/~215 jars" in count.describe(215)


def test_maven_output_is_logged_and_counted(tmp_path: Path) -> None:
    """run_maven on a stand-in command: every line reaches the log, transfers are counted."""
    script = ("import time\nfor i in range(3):\n"
              "    print(f'Downloaded from central: https://r/x/{i}/x-{i}.jar (1.0 MB at 1 MB/s)', flush=True)\n")
    said: list[str] = []
    code, count = run_maven([sys.executable, "-c", script], tmp_path / "maven.log", label="test",
                            expected_jars=3, progress=False, echo=said.append)
    assert code == 0 and count.jars == 3 and count.megabytes == pytest.approx(3.0)
    assert len((tmp_path / "maven.log").read_text().splitlines()) == 3


def test_plugin_builds_against_the_server_api() -> None:
    assert build_dir(neo4j_version="5.26.30").name == "target"
    assert build_dir(neo4j_version="2026.08.1").name == "neo4j-2026.08.1"
    command = build_command("mvn", neo4j_version="2026.08.1")
    assert "-Pneo4j-calendar" in command and "-Dneo4j.version=2026.08.1" in command
    assert not any(part.startswith("-P") for part in build_command("mvn", neo4j_version="5.26.30"))


def test_vector_search_uses_the_search_clause_from_2026_01() -> None:
    assert not has_search_clause("5.26.30") and not has_search_clause("2025.12.1")
    assert has_search_clause("2026.01.3") and has_search_clause("2026.08.1")
    assert node_vector_query("kg_x", search_clause=False).startswith("CALL db.index.vector.queryNodes")
    query = node_vector_query("kg`x", search_clause=True)
    assert query.startswith("CYPHER 25 MATCH (node) SEARCH node IN (VECTOR INDEX `kg``x` FOR $vector LIMIT $k)")


def _fake_jdk(home: Path, version: str) -> Path:
    (home / "bin").mkdir(parents=True)
    java = home / "bin" / "java"
    java.write_text(f"#!/bin/sh\necho 'openjdk version \"{version}\" 2026-01-01' >&2\n")
    java.chmod(0o755)
    return java


def test_a_calendar_release_finds_an_installed_jdk_21(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from kgstore.errors import PrerequisiteError
    from kgstore.server import prerequisites

    old = _fake_jdk(tmp_path / "jdk17", "17.0.15")
    new = _fake_jdk(tmp_path / "jvm" / "jdk25", "25.0.3")
    monkeypatch.setattr(prerequisites, "JDK_FOLDERS", (tmp_path / "jvm",))
    monkeypatch.setenv("PATH", str(old.parent))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    assert prerequisites.check_java(17) == str(old)  # new enough: PATH's java
    assert prerequisites.check_java(21) == str(new)  # too old on PATH: the newest installed JDK
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk17"))  # an explicit JAVA_HOME is taken as given
    with pytest.raises(PrerequisiteError, match="Java 17; Neo4j 2026.08.1 needs Java 21") as caught:
        prerequisites.check_java(21, what="Neo4j 2026.08.1")
    assert str(tmp_path / "jvm" / "jdk25") in caught.value.hint
    assert prerequisites.check_java(21, java_home=str(tmp_path / "jvm" / "jdk25")) == str(new)
