"""The model catalogue (kgstore.models): list, show, drop and gc against the real server."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

from kgstore import models
from kgstore.driver import Graph
from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome
from kgstore.writeback import WRITE_LEASE, nearest, parse_vector_name, write_vectors


def make_entities(graph: Graph, n: int) -> list[str]:
    keys = [f"mc:{i}" for i in range(n)]
    graph.unwind("UNWIND $rows AS row MERGE (e:Entity {key: row.key}) SET e.name = row.name",
                 [{"key": k, "name": f"entity {i}"} for i, k in enumerate(keys)])
    return keys


def vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)


def predict(graph: Graph, model: str, pairs: list[tuple[str, str]]) -> None:
    graph.query("UNWIND $pairs AS pair MATCH (h:Entity {key: pair[0]}), (t:Entity {key: pair[1]}) "
                "CREATE (h)-[:KGSTORE_PREDICTED {relation: 'likes', score: 0.5, model: $model, version: 'x', "
                "created_at: datetime()}]->(t)", {"pairs": [list(p) for p in pairs], "model": model}, write=True)


def orphan(graph: Graph, prop: str, keys: list[str]) -> None:
    """What a killed write-back (of an older kgstore, without leases) leaves: values, no lease."""
    graph.query(f"UNWIND $keys AS key MATCH (e:Entity {{key: key}}) SET e.{prop} = [1.0, 2.0]", {"keys": keys},
                write=True)


def count_property(graph: Graph, prop: str) -> int:
    return graph.query(f"MATCH (e:Entity) WHERE e.{prop} IS NOT NULL RETURN count(e) AS n")[0]["n"]


def checkpoint(home: KgstoreHome, model: str, run: str, metrics: dict | None) -> Path:
    folder = home.model_dir(model) / run
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    link = home.latest_link(model)
    link.unlink(missing_ok=True)
    link.symlink_to(folder.name)
    return folder


@pytest.fixture
def home(tmp_path: Path) -> KgstoreHome:
    return KgstoreHome(tmp_path / "home")


def test_list_and_show_models(graph: Graph, home: KgstoreHome) -> None:
    keys = make_entities(graph, 300)
    write_vectors(graph, "alpha", keys, vectors(300), metadata={"decoder": "distmult", "test_mrr": 0.25},
                  modality_vectors={"text": (keys[:40], vectors(40, seed=1))}, batch_size=100)
    write_vectors(graph, "beta", keys, vectors(300, dim=8, seed=2), similarity="euclidean")
    write_vectors(graph, "beta", keys, vectors(300, dim=8, seed=3), similarity="euclidean")
    predict(graph, "alpha", [(keys[0], keys[1]), (keys[2], keys[3]), (keys[4], keys[5])])
    predict(graph, "beta", [(keys[6], keys[7])])
    checkpoint(home, "alpha", "20240101T000000Z", None)  # an unfinished run: no metrics
    newest = checkpoint(home, "alpha", "20240102T000000Z", {"test": {"mrr": 0.25}})
    checkpoint(home, "gamma", "20240103T000000Z", {"test": {"mrr": 0.1}})  # trained, never written back

    listed = models.list_models(graph, home)
    assert [(m.name, m.in_database, m.version) for m in listed] == [
        ("alpha", True, 1), ("beta", True, 2), ("gamma", False, None)]
    alpha, beta, gamma = listed
    assert (alpha.dimension, alpha.similarity, alpha.vectors, alpha.modality_vectors) == (16, "cosine", 300, ["text"])
    assert (alpha.property, alpha.index) == ("embedding_alpha_v1", "kgstore_alpha_v1")
    assert alpha.meta == {"decoder": "distmult", "test_mrr": 0.25}
    assert alpha.written_at is not None and alpha.written_at.startswith("20")
    assert [(i.name, i.version, i.property, i.state, i.dimension, i.similarity) for i in alpha.indexes] == [
        ("kgstore_alpha_v1", 1, "embedding_alpha_v1", "ONLINE", 16, "COSINE"),
        ("kgstore_alpha_v1_text", 1, "embedding_alpha_v1_text", "ONLINE", 16, "COSINE")]
    assert alpha.latest_checkpoint == str(newest.resolve())
    assert (beta.latest_version, beta.similarity, [i.name for i in beta.indexes]) == (2, "euclidean",
                                                                                        ["kgstore_beta_v2"])
    assert gamma.indexes == [] and gamma.latest_checkpoint is not None
    assert alpha.versions is None and alpha.predictions is None  # list_models leaves the details out
    assert [m.name for m in models.list_models(graph)] == ["alpha", "beta"]  # without a home: the database's
    json.dumps([m.to_dict() for m in listed])  # plain values only

    shown = models.show_model(graph, "alpha", home)
    assert [(v.version, v.status, v.properties, v.indexes, v.lease) for v in shown.versions or []] == [
        (1, "current", {"embedding_alpha_v1": 300, "embedding_alpha_v1_text": 40},
         ["kgstore_alpha_v1", "kgstore_alpha_v1_text"], None)]
    assert shown.predictions == 3
    assert [(Path(c.path).name, c.latest, c.metrics) for c in shown.checkpoints or []] == [
        ("20240101T000000Z", False, None), ("20240102T000000Z", True, {"test": {"mrr": 0.25}})]
    assert json.loads(json.dumps(shown.to_dict()))["versions"][0]["status"] == "current"

    orphan(graph, "embedding_beta_v1", keys[:5])  # left behind by a killed write-back
    shown = models.show_model(graph, "beta")
    assert [(v.version, v.status, v.vectors) for v in shown.versions or []] == [(1, "orphaned", 5),
                                                                                (2, "current", 300)]
    assert shown.predictions == 1 and shown.checkpoints is None
    collected = models.gc(graph, "beta")
    assert [asdict(c) for c in collected] == [{"model": "beta", "version": 1, "indexes": (),
                                                "properties": {"embedding_beta_v1": 5}}]
    assert [v.version for v in models.show_model(graph, "beta").versions or []] == [2]

    gamma = models.show_model(graph, "gamma", home)
    assert (gamma.in_database, gamma.versions, gamma.predictions) == (False, [], 0)
    assert [c.metrics for c in gamma.checkpoints or []] == [{"test": {"mrr": 0.1}}]

    with pytest.raises(KgstoreError, match="no such model") as info:
        models.show_model(graph, "nope", home)
    assert "alpha, beta, gamma" in str(info.value)
    with pytest.raises(KgstoreError, match="no such model"):
        models.show_model(graph, "gamma")  # only in the home, and no home given


def test_drop_model_removes_vectors_indexes_node_predictions_and_checkpoints(graph: Graph, home: KgstoreHome) -> None:
    keys = make_entities(graph, 300)
    write_vectors(graph, "alpha", keys, vectors(300), modality_vectors={"text": (keys[:40], vectors(40, seed=1))},
                  batch_size=64)
    write_vectors(graph, "beta", keys, vectors(300, seed=2))
    orphan(graph, "embedding_alpha_v0", keys[:7])  # an orphaned older version goes too
    predict(graph, "alpha", [(keys[0], keys[1]), (keys[2], keys[3])])
    predict(graph, "beta", [(keys[6], keys[7])])
    folder = checkpoint(home, "alpha", "20240101T000000Z", {}).parent

    result = models.drop_model(graph, "alpha", home=home, checkpoints=True)
    assert result.to_dict() == {"model": "alpha", "versions": [0, 1], "vectors": 7 + 300 + 40,
                                "indexes": ["kgstore_alpha_v1", "kgstore_alpha_v1_text"], "predictions": 2,
                                "model_node": True, "checkpoints": str(folder)}
    assert not folder.exists()
    assert graph.query("MATCH (m:KgModel) RETURN m.id AS id") == [{"id": "beta"}]
    for prop in ("embedding_alpha_v0", "embedding_alpha_v1", "embedding_alpha_v1_text"):
        assert count_property(graph, prop) == 0
    assert [r["name"] for r in graph.query("SHOW INDEXES YIELD name, type WHERE type = 'VECTOR' "
                                           "RETURN name")] == ["kgstore_beta_v1"]
    assert graph.query("MATCH ()-[p:KGSTORE_PREDICTED]->() RETURN p.model AS model") == [{"model": "beta"}]
    assert graph.query(f"MATCH (l:{WRITE_LEASE}) RETURN count(l) AS n") == [{"n": 0}]
    assert count_property(graph, "embedding_beta_v1") == 300  # the other model is untouched
    assert [r["key"] for r in nearest(graph, "beta", key=keys[0], k=3)]

    with pytest.raises(KgstoreError, match="no such model") as info:
        models.drop_model(graph, "alpha")
    assert "Known models: beta" in str(info.value)

    checkpoint(home, "gamma", "20240103T000000Z", {})
    with pytest.raises(KgstoreError, match="only checkpoints"):
        models.drop_model(graph, "gamma", home=home)
    with pytest.raises(KgstoreError, match="needs the kgstore home"):
        models.drop_model(graph, "beta", checkpoints=True)
    dropped = models.drop_model(graph, "gamma", home=home, checkpoints=True)
    assert (dropped.model_node, dropped.versions, dropped.checkpoints) == (False, [], str(home.model_dir("gamma")))
    assert not home.model_dir("gamma").exists()


def test_drop_is_refused_while_a_write_back_is_live(graph: Graph) -> None:
    keys = make_entities(graph, 40)
    write_vectors(graph, "busy", keys, vectors(40, dim=4))
    paused, go = threading.Event(), threading.Event()
    failures: list[BaseException] = []

    def pause(_: int) -> None:
        paused.set()
        go.wait(timeout=120)

    def writer() -> None:
        try:
            write_vectors(graph, "busy", keys, vectors(40, dim=4, seed=1), batch_size=10, on_batch=pause)
        except BaseException as error:  # noqa: BLE001 - inspected below
            failures.append(error)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert paused.wait(timeout=120)
        statuses = [(v.version, v.status) for v in models.show_model(graph, "busy").versions or []]
        assert statuses == [(1, "current"), (2, "writing")]
        with pytest.raises(KgstoreError, match="version 2 \\(being written by"):
            models.drop_model(graph, "busy")
        assert count_property(graph, "embedding_busy_v1") == 40  # nothing was dropped
    finally:
        go.set()
        thread.join(timeout=120)
    assert failures == []
    result = models.drop_model(graph, "busy")
    assert (result.versions, result.vectors, result.model_node) == ([2], 40, True)
    assert models.list_models(graph) == []


def test_gc_of_every_model_keeps_current_versions(graph: Graph) -> None:
    keys = make_entities(graph, 50)
    write_vectors(graph, "one", keys, vectors(50, dim=4))
    write_vectors(graph, "one", keys, vectors(50, dim=4, seed=1))
    write_vectors(graph, "two", keys, vectors(50, dim=4, seed=2))
    orphan(graph, "embedding_one_v1", keys[:3])
    orphan(graph, "embedding_one_v1_text", keys[:2])
    orphan(graph, "embedding_two_v9", keys[:4])  # above latest_version: not a version anyone claimed
    orphan(graph, "embedding_two_v0", keys[:4])
    orphan(graph, "embedding_twofold_v0", keys[:4])  # no such model: not kgstore's to drop
    collected = models.gc(graph)
    assert [(c.model, c.version, c.vectors) for c in collected] == [("one", 1, 5), ("two", 0, 4)]
    assert count_property(graph, "embedding_one_v2") == 50 and count_property(graph, "embedding_two_v1") == 50
    assert count_property(graph, "embedding_two_v9") == 4 and count_property(graph, "embedding_twofold_v0") == 4
    assert models.gc(graph) == []
    with pytest.raises(KgstoreError, match="no such model"):
        models.gc(graph, "three")


def test_vector_names_go_to_the_longest_model_they_fit() -> None:
    both = ["a", "a_v2"]
    assert parse_vector_name("embedding_a_v2_v1", "embedding_", both) == ("a_v2", 1)
    assert parse_vector_name("embedding_a_v2_text", "embedding_", both) == ("a", 2)
    assert parse_vector_name("embedding_a_v2_v1", "embedding_", ["a"]) == ("a", 2)  # a modality named v1
    assert parse_vector_name("kgstore_a_v12", "kgstore_", both) == ("a", 12)
    assert parse_vector_name("embedding_ab_v1", "embedding_", both) is None
    assert parse_vector_name("embedding_a_vx", "embedding_", both) is None
