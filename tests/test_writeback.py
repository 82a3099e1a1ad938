"""Vector write-back: batched, versioned, indexed, and queried through Neo4j's vector index."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from kgstore import models
from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.writeback import WRITE_LEASE, collect_orphans, current_version, nearest, write_vectors


def make_entities(graph: Graph, n: int) -> list[str]:
    keys = [f"wb:{i}" for i in range(n)]
    graph.unwind("UNWIND $rows AS row MERGE (e:Entity {key: row.key}) SET e.name = row.name, e.dataset = 'wb'",
                 [{"key": k, "name": f"entity {i}"} for i, k in enumerate(keys)])
    return keys


def test_write_back_creates_an_online_index_and_answers_nearest(graph: Graph) -> None:
    keys = make_entities(graph, 300)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(300, 16)).astype(np.float32)
    result = write_vectors(graph, "unit", keys, vectors, batch_size=128, metadata={"decoder": "distmult"})
    assert result.vectors == 300 and result.missing_keys == 0
    index = graph.query("SHOW INDEXES YIELD name, type, state, options WHERE name = 'kgstore_unit_v1' "
                        "RETURN type, state, options.indexConfig AS config")[0]
    assert index["type"] == "VECTOR" and index["state"] == "ONLINE"
    assert index["config"]["vector.dimensions"] == 16
    assert index["config"]["vector.similarity_function"] == "COSINE"
    stored = graph.query("MATCH (e:Entity {key: 'wb:7'}) RETURN e.embedding_unit_v1 AS v")[0]["v"]
    assert np.allclose(stored, vectors[7], atol=1e-6)
    model = graph.query("MATCH (m:KgModel {id: 'unit'}) RETURN m.version AS v, m.meta_decoder AS d, "
                        "m.written_at IS NOT NULL AS stamped")
    assert model == [{"v": 1, "d": "distmult", "stamped": True}]

    normed = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    exact = [keys[i] for i in np.argsort(-(normed @ normed[7]))[1:6]]
    found = [row["key"] for row in nearest(graph, "unit", key="wb:7", k=5)]
    assert "wb:7" not in found
    assert len(set(found) & set(exact)) >= 4  # the index is approximate (HNSW), but close


def test_retraining_writes_a_new_version_and_drops_the_old(graph: Graph) -> None:
    keys = make_entities(graph, 50)
    write_vectors(graph, "ver", keys, np.ones((50, 8), dtype=np.float32))
    second = write_vectors(graph, "ver", keys, np.full((50, 8), 2.0, dtype=np.float32))
    assert second.version.version == 2
    assert current_version(graph, "ver").version == 2  # type: ignore[union-attr]
    leftovers = graph.query("MATCH (e:Entity) WHERE e.embedding_ver_v1 IS NOT NULL RETURN count(e) AS n")
    assert leftovers == [{"n": 0}]
    names = {r["name"] for r in graph.query("SHOW INDEXES YIELD name RETURN name")}
    assert "kgstore_ver_v2" in names and "kgstore_ver_v1" not in names


def vector_leftovers(graph: Graph, model: str, version: int) -> tuple[int, list[str]]:
    """Entities holding ``version``'s property, and the indexes named after it."""
    prop = f"embedding_{model}_v{version}"
    holders = graph.query(f"MATCH (e:Entity) WHERE e.{prop} IS NOT NULL RETURN count(e) AS n")[0]["n"]
    indexes = [r["name"] for r in graph.query("SHOW INDEXES YIELD name WHERE name STARTS WITH $p RETURN name",
                                              {"p": f"kgstore_{model}_v{version}"})]
    return holders, indexes


def test_an_interrupted_write_back_removes_its_half_and_keeps_the_current_version(graph: Graph) -> None:
    keys = make_entities(graph, 40)
    write_vectors(graph, "halt", keys, np.ones((40, 8), dtype=np.float32))
    batches: list[int] = []

    def interrupt_after_two_batches(count: int) -> None:  # what Ctrl-C in the progress bar's callback does
        batches.append(count)
        if len(batches) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_vectors(graph, "halt", keys, np.full((40, 8), 2.0, dtype=np.float32), batch_size=5,
                      on_batch=interrupt_after_two_batches)
    assert len(batches) == 2  # two batches of version 2 had been committed when it stopped
    assert vector_leftovers(graph, "halt", 2) == (0, [])
    assert current_version(graph, "halt").version == 1  # type: ignore[union-attr]
    assert vector_leftovers(graph, "halt", 1) == (40, ["kgstore_halt_v1"])
    assert [r["key"] for r in nearest(graph, "halt", key=keys[0], k=3)]  # version 1 still answers


def test_of_two_overlapping_write_backs_the_newer_version_stays_whichever_ends_last(graph: Graph) -> None:
    keys = make_entities(graph, 30)
    write_vectors(graph, "race", keys, np.ones((30, 8), dtype=np.float32))
    older_paused, newer_done = threading.Event(), threading.Event()

    def pause_until_the_newer_is_done(_: int) -> None:
        older_paused.set()
        newer_done.wait(timeout=120)

    failures: list[BaseException] = []

    def older() -> None:  # claims version 2, then waits while version 3 is written and switched to
        try:
            write_vectors(graph, "race", keys, np.full((30, 8), 2.0, dtype=np.float32), batch_size=10,
                          on_batch=pause_until_the_newer_is_done)
        except BaseException as error:  # noqa: BLE001 - inspected below
            failures.append(error)

    thread = threading.Thread(target=older)
    thread.start()
    assert older_paused.wait(timeout=120)
    newer = write_vectors(graph, "race", keys, np.full((30, 8), 3.0, dtype=np.float32))
    newer_done.set()
    thread.join(timeout=120)
    assert newer.version.version == 3
    assert len(failures) == 1 and "version 3 was written while version 2" in str(failures[0])
    assert current_version(graph, "race").version == 3  # type: ignore[union-attr]
    assert vector_leftovers(graph, "race", 1) == (0, [])
    assert vector_leftovers(graph, "race", 2) == (0, [])
    assert vector_leftovers(graph, "race", 3) == (30, ["kgstore_race_v3"])


def test_bad_inputs_are_refused(graph: Graph) -> None:
    keys = make_entities(graph, 3)
    with pytest.raises(KgstoreError, match="model name"):
        write_vectors(graph, "bad name; DROP", keys, np.ones((3, 4)))
    with pytest.raises(KgstoreError, match="3 keys but 2 vectors"):
        write_vectors(graph, "ok", keys, np.ones((2, 4)))
    with pytest.raises(KgstoreError, match="no vectors for model"):
        nearest(graph, "never_trained", key="wb:0")
    write_vectors(graph, "ok", keys, np.ones((3, 4)))
    with pytest.raises(KgstoreError, match="no entity with key"):
        nearest(graph, "ok", key="wb:missing")


def test_unknown_keys_are_counted_not_invented(graph: Graph) -> None:
    keys = make_entities(graph, 5)
    result = write_vectors(graph, "partial", [*keys, "wb:ghost"], np.ones((6, 4)))
    assert (result.vectors, result.missing_keys) == (5, 1)
    assert graph.query("MATCH (e:Entity {key: 'wb:ghost'}) RETURN count(e) AS n") == [{"n": 0}]


def test_nearest_cypher_file_matches_the_python_helper(graph: Graph, run_cli) -> None:  # noqa: ANN001
    from kgstore.cypher_files import read_cypher, split_statements

    keys = make_entities(graph, 100)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(100, 8)).astype(np.float32)
    texts = rng.normal(size=(40, 8)).astype(np.float32)  # the first 40 entities "have a text"
    write_vectors(graph, "file", keys, vectors, modality_vectors={"text": (keys[:40], texts)})
    by_entity, by_text = split_statements(read_cypher("queries/nearest.cypher"))
    from_file = graph.query(by_entity, {"model": "file", "key": "wb:3", "k": 5})
    assert [r["key"] for r in from_file] == [r["key"] for r in nearest(graph, "file", key="wb:3", k=5)]
    result = run_cli("nearest", "wb:3", "-k", "5", "--model", "file", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert from_file[0]["key"] in result.output and "entity" in result.output

    # the text vectors: their own index, only entities with a text, nearest by the text vectors
    text_file = graph.query(by_text, {"model": "file", "key": "wb:3", "k": 5})
    exact = np.argsort(-(texts / np.linalg.norm(texts, axis=1, keepdims=True)) @ (texts[3] / np.linalg.norm(texts[3])))
    assert [r["key"] for r in text_file] == [r["key"] for r in nearest(graph, "file", key="wb:3", k=5, space="text")]
    assert {r["key"] for r in text_file} <= set(keys[:40])
    assert text_file[0]["key"] == keys[int(exact[1])]  # 40 vectors: the index is exact here
    with pytest.raises(KgstoreError, match="has no image vectors"):
        nearest(graph, "file", key="wb:3", space="image")
    with pytest.raises(KgstoreError, match="has no text vector"):
        nearest(graph, "file", key="wb:77", space="text")

    # a new version without modalities drops the old text index and property
    write_vectors(graph, "file", keys, vectors)
    assert not graph.query("SHOW INDEXES YIELD name WHERE name STARTS WITH 'kgstore_file_v1' RETURN name")
    assert graph.query("MATCH (e:Entity) WHERE e.embedding_file_v1_text IS NOT NULL RETURN count(e) AS n")[0]["n"] == 0
    assert not graph.query(by_text, {"model": "file", "key": "wb:3", "k": 5})


def test_bulk_write_procedure_stores_exact_floats_and_refuses_bad_blobs(graph: Graph) -> None:
    """kgstore.writeVectors (the plugin's bulk path): exact float32 values, missing keys counted."""
    from neo4j.exceptions import ClientError

    graph.query("UNWIND ['w:a', 'w:b'] AS key CREATE (:Entity {key: key})", write=True)
    vectors = np.array([[0.5, -1.25, 3.0], [1e-7, 2.0, -0.0]], dtype="<f4")
    rows = graph.query("CALL kgstore.writeVectors('v', $keys, $blob, 3) YIELD written, missing "
                       "RETURN written, missing", {"keys": ["w:a", "w:b", "w:nope"],
                                                   "blob": np.vstack([vectors, [[9, 9, 9]]]).astype("<f4").tobytes()},
                       write=True)
    assert rows == [{"written": 2, "missing": 1}]
    stored = graph.query("MATCH (e:Entity) WHERE e.v IS NOT NULL RETURN e.key AS key, e.v AS v ORDER BY key")
    assert [r["key"] for r in stored] == ["w:a", "w:b"]
    np.testing.assert_array_equal(np.array([r["v"] for r in stored], dtype="<f4"), vectors)
    for blob, dim, message in ((b"\0" * 10, 3, "need 24 bytes, got 10"), (vectors.tobytes(), 0, "outside 1..4096"),
                               (np.array([[np.nan] * 3] * 2, dtype="<f4").tobytes(), 3, "NaN"),
                               ([0.5, 1.0], 3, "vectors must be bytes (little-endian float32), got")):
        with pytest.raises(ClientError) as info:
            graph.query("CALL kgstore.writeVectors('v2', ['w:a', 'w:b'], $blob, $dim) YIELD written RETURN written",
                        {"blob": blob, "dim": dim}, write=True)
        assert message in info.value.message
    assert graph.query("MATCH (e:Entity) WHERE e.v2 IS NOT NULL RETURN count(e) AS n") == [{"n": 0}]


def test_bulk_write_sees_entities_created_earlier_in_the_same_transaction(graph: Graph) -> None:
    """The kernel index lookup reads the transaction's own changes, as findNode does."""
    blob = np.array([[1.0, 2.0]], dtype="<f4").tobytes()
    rows = graph.query("CREATE (:Entity {key: 'w:fresh'}) WITH 1 AS one "
                       "CALL kgstore.writeVectors('v3', ['w:fresh'], $blob, 2) YIELD written, missing "
                       "RETURN written, missing", {"blob": blob}, write=True)
    assert rows == [{"written": 1, "missing": 0}]
    assert graph.query("MATCH (e:Entity {key: 'w:fresh'}) RETURN e.v3 AS v") == [{"v": [1.0, 2.0]}]


# ------------------------------------------------------------------ orphaned versions
CHILD = Path(__file__).with_name("writeback_child.py")


def wait_until(condition: Callable[[], object], *, timeout: float = 120.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up after {timeout:.0f} s waiting for {what}"
        time.sleep(0.05)


def live_leases(graph: Graph, model: str) -> int:
    return graph.query(f"MATCH (l:{WRITE_LEASE} {{model: $model}}) WHERE l.expires_at > datetime() "
                       "RETURN count(l) AS n", {"model": model})[0]["n"]


def all_leases(graph: Graph) -> int:
    return graph.query(f"MATCH (l:{WRITE_LEASE}) RETURN count(l) AS n")[0]["n"]


def start_and_kill(server, model: str, keys: list[str], mode: str, killed_when: Callable[[], object],
                   *, lease_ttl: float = 2.0) -> None:  # noqa: ANN001 - tests.conftest.ServerUnderTest
    """Run a write-back of ``model`` in a real child process and SIGKILL it once ``killed_when()``."""
    config = {"model": model, "keys": keys, "dim": 8, "lease_ttl": lease_ttl, "mode": mode,
              "batch_size": 10, "pause": 0.05}
    env = {**os.environ, "NEO4J_URI": server.uri, "NEO4J_USERNAME": server.user,
           "NEO4J_PASSWORD": server.password}
    child = subprocess.Popen([sys.executable, str(CHILD), json.dumps(config)], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not killed_when():
            if child.poll() is not None:
                pytest.fail(f"the write-back child ended before it was killed:\n{child.stdout.read().decode()}")
            assert time.monotonic() < deadline, "the write-back child wrote nothing within 120 s"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()


def test_a_write_back_killed_mid_write_leaves_an_orphan_that_the_next_write_back_removes(
        graph: Graph, neo4j_server) -> None:  # noqa: ANN001
    keys = make_entities(graph, 600)
    write_vectors(graph, "kill", keys, np.ones((600, 8), dtype=np.float32))
    start_and_kill(neo4j_server, "kill", keys, "slow",
                   killed_when=lambda: vector_leftovers(graph, "kill", 2)[0] >= 50)
    half, indexes = vector_leftovers(graph, "kill", 2)
    assert 50 <= half < 600 and indexes == []  # killed mid-write: part of version 2's vectors are there
    assert current_version(graph, "kill").version == 1  # type: ignore[union-attr]
    assert [r["key"] for r in nearest(graph, "kill", key=keys[0], k=3)]  # readers still use version 1

    wait_until(lambda: live_leases(graph, "kill") == 0, timeout=30, what="the killed child's lease to expire")
    half = vector_leftovers(graph, "kill", 2)[0]  # again: a commit sent just before the kill may have landed
    third = write_vectors(graph, "kill", keys, np.full((600, 8), 3.0, dtype=np.float32))
    assert third.version.version == 3
    assert sorted((c.version, c.vectors) for c in third.collected) == [(1, 600), (2, half)]
    assert vector_leftovers(graph, "kill", 2) == (0, [])
    assert vector_leftovers(graph, "kill", 1) == (0, [])
    assert vector_leftovers(graph, "kill", 3) == (600, ["kgstore_kill_v3"])
    assert all_leases(graph) == 0


def test_models_gc_removes_a_version_killed_after_its_index_was_built(graph: Graph, neo4j_server) -> None:  # noqa: ANN001
    keys = make_entities(graph, 300)
    write_vectors(graph, "gckill", keys, np.ones((300, 8), dtype=np.float32))
    index_exists = lambda: bool(graph.query("SHOW INDEXES YIELD name WHERE name = 'kgstore_gckill_v2' "  # noqa: E731
                                            "RETURN name"))
    start_and_kill(neo4j_server, "gckill", keys, "hang_at_index", killed_when=index_exists)
    assert vector_leftovers(graph, "gckill", 2) == (300, ["kgstore_gckill_v2"])  # all written, never current
    assert current_version(graph, "gckill").version == 1  # type: ignore[union-attr]

    wait_until(lambda: live_leases(graph, "gckill") == 0, timeout=30, what="the killed child's lease to expire")
    collected = models.gc(graph)
    assert [(c.model, c.version, c.properties, c.indexes) for c in collected] == [
        ("gckill", 2, {"embedding_gckill_v2": 300}, ("kgstore_gckill_v2",))]
    assert vector_leftovers(graph, "gckill", 2) == (0, [])
    assert vector_leftovers(graph, "gckill", 1) == (300, ["kgstore_gckill_v1"])  # the current version is untouched
    assert current_version(graph, "gckill").version == 1  # type: ignore[union-attr]
    assert [r["key"] for r in nearest(graph, "gckill", key=keys[0], k=3)]
    assert all_leases(graph) == 0
    assert models.gc(graph) == []  # nothing left to collect


def test_gc_leaves_the_version_of_a_live_write_back_alone(graph: Graph) -> None:
    keys = make_entities(graph, 60)
    write_vectors(graph, "live", keys, np.ones((60, 8), dtype=np.float32))
    paused, go = threading.Event(), threading.Event()

    def pause(_: int) -> None:
        paused.set()
        go.wait(timeout=120)

    failures: list[BaseException] = []

    def writer() -> None:
        try:
            write_vectors(graph, "live", keys, np.full((60, 8), 2.0, dtype=np.float32), batch_size=20,
                          on_batch=pause, lease_ttl=1.0)
        except BaseException as error:  # noqa: BLE001 - inspected below
            failures.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert paused.wait(timeout=120)
        time.sleep(2.5)  # over twice the lease's TTL: only the heartbeat keeps it live
        assert collect_orphans(graph, "live", lease_ttl=1.0) == []
        assert models.gc(graph) == []
        assert vector_leftovers(graph, "live", 2)[0] >= 20  # what it wrote so far is still there
        assert live_leases(graph, "live") == 1
    finally:
        go.set()
        thread.join(timeout=120)
    assert failures == []
    assert current_version(graph, "live").version == 2  # type: ignore[union-attr]
    assert vector_leftovers(graph, "live", 2) == (60, ["kgstore_live_v2"])
    assert vector_leftovers(graph, "live", 1) == (0, [])
    assert all_leases(graph) == 0


def test_a_write_back_whose_lease_was_collected_does_not_become_current(graph: Graph) -> None:
    keys = make_entities(graph, 40)
    write_vectors(graph, "stolen", keys, np.ones((40, 8), dtype=np.float32))

    def collector_took_the_lease(_: int) -> None:  # what gc does to a lease that expired while its holder stalled
        graph.query(f"MATCH (l:{WRITE_LEASE} {{model: 'stolen'}}) DELETE l", write=True)

    with pytest.raises(KgstoreError, match="the lease on version 2 expired"):
        write_vectors(graph, "stolen", keys, np.full((40, 8), 2.0, dtype=np.float32), batch_size=10,
                      on_batch=collector_took_the_lease)
    assert current_version(graph, "stolen").version == 1  # type: ignore[union-attr]
    assert vector_leftovers(graph, "stolen", 2) == (0, [])
    assert vector_leftovers(graph, "stolen", 1) == (40, ["kgstore_stolen_v1"])
