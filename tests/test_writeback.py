"""Vector write-back: batched, versioned, indexed, and queried through Neo4j's vector index."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.writeback import current_version, nearest, write_vectors


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
