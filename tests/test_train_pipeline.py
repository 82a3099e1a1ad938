"""`kgstore sync && kgstore train` end to end: Neo4j → snapshot → model → vectors → Cypher."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kgstore.driver import Graph, connect
from kgstore.errors import KgstoreError
from kgstore.home import KgstoreHome
from kgstore.importers.registry import open_dataset
from kgstore.sync import sync_dataset


def test_sync_train_write_back_nearest_eval(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    sync_dataset(graph, open_dataset("nations"))
    # The test session's home is shared: give this run its own model name.
    result = run_cli("train", "--model", "nations_e2e", "--epochs", "30", "--dim", "32", "--patience", "0",
                     "--batch-size", "128", env={"COLUMNS": "200", "KGSTORE_NUM_THREADS": "2"})
    assert result.exit_code == 0, result.output
    assert "filtered test metrics" in result.output and "wrote 14 vectors" in result.output

    model = graph.query("MATCH (m:KgModel {id: 'nations_e2e'}) RETURN m.version AS v, m.dimension AS dim, "
                        "m.meta_checkpoint AS ckpt, m.meta_test_mrr AS mrr")[0]
    assert model["v"] == 1 and model["dim"] == 32
    checkpoint = Path(model["ckpt"])
    metrics = json.loads((checkpoint / "metrics.json").read_text())
    assert abs(metrics["test"]["mrr"] - model["mrr"]) < 1e-9
    assert metrics["test"]["mrr"] > 0.3  # random ranking of 14 entities gives about 0.23
    assert (checkpoint / "loss.png").is_file()

    vectors = np.load(checkpoint / "entity_vectors.npy")
    keys = json.loads((checkpoint / "vocab.json").read_text())["entity_keys"]
    stored = graph.query("MATCH (e:Entity {key: $key}) RETURN e.embedding_nations_e2e_v1 AS v", {"key": keys[0]})
    assert np.allclose(stored[0]["v"], vectors[0], atol=1e-5)

    near = run_cli("nearest", "nations:usa", "-k", "3", "--model", "nations_e2e", env={"COLUMNS": "200"})
    assert near.exit_code == 0, near.output
    assert near.output.count("nations:") == 3 + 1  # the title names the query entity

    again = run_cli("eval", str(checkpoint), env={"COLUMNS": "200"})
    assert again.exit_code == 0, again.output
    assert f"{metrics['test']['mrr']:.4f}" in again.output

    second = run_cli("train", "--model", "nations_e2e", "--epochs", "2", "--dim", "16",
                     env={"KGSTORE_NUM_THREADS": "2"})
    assert second.exit_code == 0, second.output
    versions = graph.query("MATCH (m:KgModel {id: 'nations_e2e'}) RETURN m.version AS v, m.dimension AS dim")
    assert versions == [{"v": 2, "dim": 16}]
    assert graph.query("MATCH (e:Entity) WHERE e.embedding_nations_e2e_v1 IS NOT NULL RETURN count(e) AS n") == [
        {"n": 0}]


def test_train_from_snapshot_without_database(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    sync_dataset(graph, open_dataset("nations"))
    snapshot = tmp_path / "snap"
    exported = run_cli("export", str(snapshot))
    assert exported.exit_code == 0, exported.output
    assert "14 entities" in exported.output
    offline = run_cli("train", "--snapshot", str(snapshot), "--no-write-back", "--model", "offline",
                      "--epochs", "2", "--dim", "8", env={"NEO4J_URI": "bolt://127.0.0.1:1",
                                                          "KGSTORE_NUM_THREADS": "2"})
    assert offline.exit_code == 0, offline.output
    checkpoint = next(p for p in (Path(offline.output.split("checkpoint ")[1].split()[0]),) if p.is_dir())
    back = run_cli("write-back", str(checkpoint), "--model", "offline")
    assert back.exit_code == 0, back.output
    assert "wrote 14 vectors (0 keys not in the database)" in back.output


def test_train_on_an_empty_graph_says_what_to_do(graph: Graph, run_cli) -> None:  # noqa: ANN001
    result = run_cli("train", "--model", "empty", "--epochs", "1")
    assert result.exit_code == 1
    assert "sync" in result.output


def test_a_write_back_that_fails_after_training_names_the_saved_checkpoint(graph: Graph, neo4j_server,  # noqa: ANN001
                                                                           tmp_path: Path) -> None:
    from trainer.config import TrainConfig
    from trainer.export import export_snapshot
    from trainer.pipeline import train_model

    sync_dataset(graph, open_dataset("nations"))
    export_snapshot(graph, tmp_path / "snap")
    home = KgstoreHome(tmp_path / "home")
    config = TrainConfig(dim=8, epochs=2, eval_every=0, patience=0)
    with pytest.raises(KgstoreError, match="similarity 'dot'"):  # refused before any training
        train_model(graph, home=home, model="lost", config=config, snapshot=tmp_path / "snap", similarity="dot",
                    progress=False)
    assert not (home.root / "models").exists()

    # The connection is gone by the time training ends (a real closed driver, not a stand-in).
    lost = connect(neo4j_server.uri, neo4j_server.user, neo4j_server.password)
    lost.close()
    with pytest.raises(KgstoreError) as failure:
        train_model(lost, home=home, model="lost", config=config, snapshot=tmp_path / "snap", progress=False)
    checkpoint = next((home.root / "models" / "lost").glob("2*"))
    assert "writing its vectors back failed" in failure.value.message
    assert f"kgstore write-back {checkpoint} --model lost" in failure.value.hint
    assert (checkpoint / "entity_vectors.npy").is_file()
