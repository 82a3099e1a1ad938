"""``--json`` on every command that prints a table, and ``kgstore train --config FILE``.

Scripts read these documents instead of parsing tables, so the tests parse stdout as JSON
(progress bars and talk go to stderr) and check the figures against the database and the
checkpoint.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from kgstore.driver import Graph
from kgstore.importers.registry import open_dataset
from kgstore.sync import sync_dataset

THREADS = {"KGSTORE_NUM_THREADS": "2"}


def parse(result) -> dict:  # noqa: ANN001 - click.testing.Result
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_status_json_counts_what_the_database_holds(graph: Graph, run_cli) -> None:  # noqa: ANN001
    graph.query("CREATE (:Entity {key: 'j:1'})-[:LIKES]->(:Entity {key: 'j:2'})", write=True)
    status = parse(run_cli("status", "--json"))
    assert status["nodes"]["Entity"] == 2
    assert status["relationships"]["LIKES"] == 1
    assert status["server"]["version"].startswith("5.")
    assert any(index["type"] == "RANGE" or index["type"] == "LOOKUP" for index in status["indexes"])


def test_datasets_list_json(run_cli, data_dir: Path) -> None:  # noqa: ANN001
    listing = parse(run_cli("datasets", "list", "--source", str(data_dir), "--json"))
    by_name = {row["name"]: row for row in listing["datasets"]}
    assert by_name["fb15k-237"]["present"] is True
    assert by_name["umls"]["present"] is True  # shipped in PyKEEN's wheel


def test_predictions_list_json(graph: Graph, run_cli) -> None:  # noqa: ANN001
    graph.query("CREATE (:Entity {key: 'p:1'})-[:KGSTORE_PREDICTED {relation: 'r', score: 0.5, model: 'm', "
                "version: 2, created_at: datetime()}]->(:Entity {key: 'p:2'})", write=True)
    listing = parse(run_cli("predictions", "list", "--json"))
    assert listing["total"] == 1
    [row] = listing["predictions"]
    assert (row["head"], row["relation"], row["tail"], row["score"], row["model"]) == ("p:1", "r", "p:2", 0.5, "m")
    assert row["created_at"][:4].isdigit()  # an ISO date, not a driver object's repr


def test_train_eval_nearest_json(graph: Graph, run_cli) -> None:  # noqa: ANN001
    sync_dataset(graph, open_dataset("nations"))
    trained = parse(run_cli("train", "--model", "json_e2e", "--epochs", "3", "--dim", "8", "--json", env=THREADS))
    test = trained["metrics"]["test"]
    assert 0.0 < test["mrr"] <= 1.0 and test["hits@1"] <= test["hits@10"]
    assert trained["write_back"]["vectors"] == 14 and trained["write_back"]["version"] == 1
    stored = graph.query("MATCH (m:KgModel {id: 'json_e2e'}) RETURN m.meta_test_mrr AS mrr")[0]["mrr"]
    assert stored == pytest.approx(test["mrr"])

    evaluated = parse(run_cli("eval", "--model", "json_e2e", "--json", env=THREADS))
    assert Path(evaluated["checkpoint"]) == Path(trained["checkpoint"]).resolve()
    assert evaluated["metrics"]["mrr"] == pytest.approx(test["mrr"], abs=1e-6)

    near = parse(run_cli("nearest", "nations:usa", "-k", "3", "--model", "json_e2e", "--json"))
    assert near["space"] == "entities" and near["version"] == 1
    assert len(near["rows"]) == 3 and "nations:usa" not in [row["key"] for row in near["rows"]]
    scores = [row["score"] for row in near["rows"]]
    assert scores == sorted(scores, reverse=True)


def test_train_config_file_and_flags(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    sync_dataset(graph, open_dataset("nations"))
    recipe = tmp_path / "recipe.toml"
    recipe.write_text('decoder = "complex"\ndim = 12\nepochs = 4\nlr = 0.01\n')
    trained = parse(run_cli("train", "--model", "cfg", "--config", str(recipe), "--epochs", "2", "--no-write-back",
                            "--json", env=THREADS))
    checkpoint = Path(trained["checkpoint"])
    stored = tomllib.loads((checkpoint / "config.toml").read_text())
    # The file's fields replace the defaults; an option typed on the command line wins over the file.
    assert (stored["decoder"], stored["dim"], stored["lr"], stored["epochs"]) == ("complex", 12, 0.01, 2)
    assert stored["batch_size"] == 256  # neither in the file nor typed: TrainConfig's default

    # A checkpoint's own config file is a valid --config (YAML works the same way).
    again = parse(run_cli("train", "--model", "cfg", "--config", str(checkpoint / "config.toml"), "--no-write-back",
                          "--json", env=THREADS))
    assert tomllib.loads((Path(again["checkpoint"]) / "config.toml").read_text()) == stored
    as_yaml = tmp_path / "recipe.yaml"
    as_yaml.write_text("decoder: rotate\ndim: 6\nepochs: 1\n")
    rotated = parse(run_cli("train", "--model", "cfg", "--config", str(as_yaml), "--no-write-back", "--json",
                            env=THREADS))
    assert tomllib.loads((Path(rotated["checkpoint"]) / "config.toml").read_text())["decoder"] == "rotate"

    bad = tmp_path / "bad.toml"
    bad.write_text('dimension = 12\n')
    refused = run_cli("train", "--model", "cfg", "--config", str(bad), "--no-write-back")
    assert refused.exit_code == 1
    assert "dimension" in refused.output and "dim" in refused.output


def test_a_bad_choice_lists_the_registry(run_cli) -> None:  # noqa: ANN001
    refused = run_cli("train", "--decoder", "tucker")
    assert refused.exit_code == 2
    assert "distmult" in refused.output and "complex" in refused.output


def test_models_list_show_gc_drop(graph: Graph, run_cli, cli_env: dict) -> None:  # noqa: ANN001
    from kgstore.home import KgstoreHome

    sync_dataset(graph, open_dataset("nations"))
    parse(run_cli("train", "--model", "catalogue", "--epochs", "2", "--dim", "8", "--json", env=THREADS))
    listed = parse(run_cli("models", "list", "--json"))
    mine = next(m for m in listed["models"] if m["name"] == "catalogue")
    assert (mine["version"], mine["dimension"], mine["vectors"]) == (1, 8, 14)
    assert [index["name"] for index in mine["indexes"]] == ["kgstore_catalogue_v1"]
    table = run_cli("models", "list", env={"COLUMNS": "250"})
    assert table.exit_code == 0 and "catalogue" in table.output

    shown = parse(run_cli("models", "show", "catalogue", "--json"))
    assert [(v["version"], v["status"]) for v in shown["versions"]] == [(1, "current")]
    assert shown["predictions"] == 0 and shown["checkpoints"] and shown["checkpoints"][-1]["latest"]

    # An orphan as a killed write-back leaves it: values of version 7, no lease, not current.
    graph.query("MATCH (e:Entity {dataset: 'nations'}) SET e.embedding_catalogue_v7 = [1.0, 2.0]", write=True)
    graph.query("MATCH (m:KgModel {id: 'catalogue'}) SET m.latest_version = 7", write=True)
    collected = parse(run_cli("models", "gc", "--json"))["collected"]
    assert [(c["model"], c["version"]) for c in collected] == [("catalogue", 7)]
    assert graph.query("MATCH (e:Entity) WHERE e.embedding_catalogue_v7 IS NOT NULL RETURN count(e) AS n")[0]["n"] == 0
    assert graph.query("MATCH (e:Entity) WHERE e.embedding_catalogue_v1 IS NOT NULL RETURN count(e) AS n")[0]["n"] == 14

    refused = run_cli("models", "show", "nope")
    assert refused.exit_code == 1 and "catalogue" in refused.output  # the error names the known models
    dropped = run_cli("models", "drop", "catalogue", "--checkpoints", "--yes")
    assert dropped.exit_code == 0, dropped.output
    assert graph.query("MATCH (m:KgModel {id: 'catalogue'}) RETURN m") == []
    assert graph.query("SHOW INDEXES YIELD name WHERE name STARTS WITH 'kgstore_catalogue' RETURN name") == []
    assert not KgstoreHome(cli_env["KGSTORE_HOME"]).model_dir("catalogue").exists()
