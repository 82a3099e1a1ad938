"""The recipe chooser (`trainer.recipe`): the README's rule table, flags that win over it, and
`kgstore train` with text on a real WordNet subset through the test server.

The chooser is a pure function of graph statistics and the device, so most tests give it
small synthetic graphs; the last test trains through Neo4j, the CLI and the text encoder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests.extras import require

require("torch", reason="the trainer needs the train extra: pip install kgstore[train]")

from kgstore.driver import Graph  # noqa: E402
from kgstore.importers.registry import open_dataset  # noqa: E402
from tests.conftest import write_text_dataset  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.recipe import (  # noqa: E402
    CUDA_DIM,
    LARGE_MAX_WORK,
    MEDIUM_MAX_WORK,
    RECIPES,
    SHARED_NAMES,
    SMALL_MAX_ENTITIES,
    TEXT_FRACTION,
    GraphStats,
    apply_recipe,
    choose_recipe,
)
from trainer.snapshot import Snapshot  # noqa: E402

README = Path(__file__).resolve().parent.parent / "README.md"
THREADS = {"KGSTORE_NUM_THREADS": "2", "COLUMNS": "200"}


def _graph(num_entities: int, num_triples: int, *, descriptions: int = 0, images: int = 0,
           num_relations: int = 3, shared_names: int = 0) -> Snapshot:
    """A synthetic snapshot: a ring of entities, ``descriptions`` of them described, ``images``
    pictured, the first ``shared_names`` all named "Bank" (in varied case)."""
    rng = np.random.default_rng(0)
    heads = np.arange(num_triples) % num_entities
    triples = np.stack([heads, rng.integers(num_relations, size=num_triples), (heads + 1) % num_entities], axis=1)
    splits = np.zeros(num_triples, dtype=np.uint8)
    splits[-2:] = [1, 2]
    return Snapshot(entity_keys=[f"e{i}" for i in range(num_entities)],
                    relation_names=[f"r{j}" for j in range(num_relations)], triples=triples.astype(np.int64),
                    splits=splits,
                    entity_text={"name": [("bank" if i % 2 else "Bank ") if i < shared_names else f"entity {i}"
                                          for i in range(num_entities)],  # names alone: no text
                                 "description": [f"the {i}th thing" if i < descriptions else None
                                                 for i in range(num_entities)]},
                    entity_images=[["ab" * 32] if i < images else [] for i in range(num_entities)])


def _readme_rules() -> dict[str, dict[str, str]]:
    """The README's "Default recipes" table, row by recipe name, cells by column header."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Default recipes", 1)[1]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        if len(cells) != len(header):
            break
        rows[cells[0]] = dict(zip(header, cells, strict=True))
    return rows


# -- the rule ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("stats", "device", "name", "modalities"), [
    (GraphStats(135, 46, 5_216), "cpu", "small", []),  # UMLS: 0.84 answers per (entity, relation)
    (GraphStats(104, 25, 8_544), "cpu", "small-dense", []),  # Kinships: 3.3
    (GraphStats(100, 10, 999), "cpu", "small", []),
    (GraphStats(100, 10, 1_000), "cuda", "small-dense", []),
    (GraphStats(SMALL_MAX_ENTITIES, 10, 50_000), "cpu", "small-dense", []),
    (GraphStats(SMALL_MAX_ENTITIES + 1, 42, 32_888), "cpu", "medium", []),  # CoDEx-S-sized
    (GraphStats(10_000, 11, MEDIUM_MAX_WORK // 10_000, text_fraction=1.0), "cpu", "medium", ["text"]),
    (GraphStats(10_000, 11, MEDIUM_MAX_WORK // 10_000 + 1, text_fraction=1.0), "cpu", "large", ["text"]),
    # WN18RR: a word's senses share its name; text measured below structure there
    (GraphStats(40_943, 11, 86_835, text_fraction=1.0, shared_name_fraction=0.31), "cuda", "large", []),
    (GraphStats(14_541, 237, 272_115, text_fraction=0.94, shared_name_fraction=0.035), "cuda:0", "large",
     ["text"]),  # FB15k-237: text measured above structure
    (GraphStats(2_000, 11, 9_000, text_fraction=1.0, shared_name_fraction=SHARED_NAMES), "cpu", "medium", []),
    (GraphStats(14_541, 237, 272_115), "cpu", "large", []),
    (GraphStats(123_182, 37, 1_079_040), "cpu", "large", []),  # YAGO3-10
    (GraphStats(1_000_000, 200, LARGE_MAX_WORK // 1_000_000), "cpu", "large", []),
    (GraphStats(1_000_000, 200, LARGE_MAX_WORK // 1_000_000 + 1), "cpu", "huge", []),
    (GraphStats(1_000_000, 200, 9_000_000, text_fraction=1.0), "cuda", "huge", []),  # synth g10m
    (GraphStats(2_625, 24, 80_000, text_fraction=0.64, image_fraction=0.64), "cpu", "medium", ["text"]),
    (GraphStats(2_625, 24, 80_000, text_fraction=0.64, image_fraction=0.64), "cuda", "medium", ["text", "image"]),
    (GraphStats(2_625, 24, 80_000, image_fraction=0.2), "cuda", "medium", []),
    (GraphStats(500, 5, 2_000, text_fraction=TEXT_FRACTION - 0.01), "cpu", "small", []),
])
def test_the_chooser_follows_the_rule(stats: GraphStats, device: str, name: str, modalities: list[str]) -> None:
    recipe, fields = choose_recipe(stats, device)
    assert recipe.name == name
    assert fields["modalities"] == modalities and fields["device"] == device
    expected_dim = CUDA_DIM[name] if device.startswith("cuda") else RECIPES[name].fields["dim"]
    assert fields["dim"] == expected_dim
    assert choose_recipe(stats, device) == (recipe, fields)  # pure: the same graph, the same answer
    TrainConfig(**fields)  # every recipe is a valid config


def test_readme_table_is_the_rule() -> None:
    rows = _readme_rules()
    assert set(rows) == set(RECIPES), f"README's table has {sorted(rows)}, the chooser {sorted(RECIPES)}"
    for name, recipe in RECIPES.items():
        row, fields = rows[name], recipe.fields
        assert row["decoder"] == fields["decoder"], name
        assert row["dim (CPU / CUDA)"] == f"{fields['dim']} / {CUDA_DIM[name]}", name
        assert row["loss"] == fields["loss"], name
        assert row["optimizer, lr"] == f"{fields['optimizer']} {fields['lr']:g}", name
        assert row["N3"] == f"{fields['regularization']:g}", name
        assert row["batch"] == str(fields["batch_size"]), name
        assert row["dropout"] == f"{fields['dropout']:g}", name
        assert row["epochs, patience"] == f"{fields['epochs']}, {fields['patience']}", name
    assert all(f"{SMALL_MAX_ENTITIES:,} entities" in rows[name]["when"] for name in ("small", "small-dense"))
    assert f"{MEDIUM_MAX_WORK // 1_000_000:,} million" in rows["medium"]["when"]
    assert f"{LARGE_MAX_WORK // 1_000_000_000:,} billion" in rows["large"]["when"]


def test_graph_stats_count_descriptions_and_images_but_not_names() -> None:
    plain = GraphStats.of(_graph(40, 200))
    assert (plain.num_entities, plain.num_relations, plain.num_train_triples) == (40, 3, 198)
    assert plain.text_fraction == 0.0 and plain.image_fraction == 0.0  # every entity has a name
    rich = GraphStats.of(_graph(40, 200, descriptions=20, images=4))
    assert rich.text_fraction == 0.5 and rich.image_fraction == 0.1
    assert choose_recipe(rich, "cuda")[1]["modalities"] == ["text"]  # too few images to train on them
    pictured = GraphStats.of(_graph(40, 200, images=10))
    assert choose_recipe(pictured, "cuda")[1]["modalities"] == ["image"]
    assert choose_recipe(pictured)[1]["modalities"] == []  # on a CPU images are asked for, not chosen
    assert choose_recipe(GraphStats.of(_graph(1_200, 3_000)))[0].name == "medium"
    assert rich.shared_name_fraction == 0.0


def test_text_whose_names_are_shared_is_not_chosen() -> None:
    # 6 of 40 entities named "Bank" / "bank ": 15 % share a name, as WordNet's senses of a word do.
    ambiguous = GraphStats.of(_graph(40, 200, descriptions=40, shared_names=6))
    assert ambiguous.shared_name_fraction == pytest.approx(6 / 40) and ambiguous.shared_name_fraction >= SHARED_NAMES
    assert choose_recipe(ambiguous)[1]["modalities"] == []
    assert "15% of names shared" in ambiguous.describe()
    distinct = GraphStats.of(_graph(40, 200, descriptions=40, shared_names=2))  # 5 %: text is chosen
    assert choose_recipe(distinct)[1]["modalities"] == ["text"]


# -- flags win ----------------------------------------------------------------------------------------------
def test_explicit_fields_keep_their_values_and_the_rest_take_the_recipe() -> None:
    stats = GraphStats(135, 46, 5_216, text_fraction=1.0)
    config, chosen = apply_recipe(TrainConfig(dim=32, lr=0.01), {"dim", "lr"}, stats, device="cpu")
    assert chosen is not None and chosen.name == "small"
    assert (config.dim, config.lr) == (32, 0.01)
    assert config.decoder == RECIPES["small"].fields["decoder"] and config.modalities == ["text"]
    assert set(chosen.overridden) == {"dim", "lr"} and "dim" not in chosen.applied
    assert "decoder" in chosen.applied and "recipe small" in chosen.line() and "yours: " in chosen.line()
    # structure only, asked for: an empty --modalities is a choice too
    config, _ = apply_recipe(TrainConfig(modalities=[]), {"modalities"}, stats)
    assert config.modalities == []
    # a device given wins over the one found; the recipe's width follows it
    config, chosen = apply_recipe(TrainConfig(), {"device"}, GraphStats(5_000, 10, 40_000), device="cuda")
    assert config.device == "cpu" and config.dim == RECIPES["medium"].fields["dim"]
    config, _ = apply_recipe(TrainConfig(), (), GraphStats(5_000, 10, 40_000), device="cuda")
    assert config.device == "cuda" and config.dim == CUDA_DIM["medium"]


def test_recipe_by_name_none_and_unknown() -> None:
    stats = GraphStats(135, 46, 5_216)
    plain = TrainConfig()
    assert apply_recipe(plain, (), stats, recipe="none") == (plain, None)
    config, chosen = apply_recipe(plain, (), stats, recipe="large")
    assert chosen is not None and chosen.name == "large" and config.optimizer == "adagrad"
    assert config.dim == RECIPES["large"].fields["dim"]
    with pytest.raises(ValueError, match="unknown recipe 'giant': use auto, none or one of small, small-dense, "
                                         "medium, large, huge"):
        apply_recipe(plain, (), stats, recipe="giant")
    config, chosen = apply_recipe(plain, (), stats, recipe="huge")  # a small graph can ask for sampled candidates
    assert chosen is not None and (config.sampler, config.num_layers) == ("neighbor", 0)


def test_cli_reports_the_recipe_and_flags_and_config_files_win(run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    snapshot = _graph(30, 300).save(tmp_path / "snap")
    offline = {"NEO4J_URI": "bolt://127.0.0.1:1", **THREADS}
    result = run_cli("train", "--snapshot", str(snapshot), "--no-write-back", "--model", "recipe_cli",
                     "--epochs", "2", "--dim", "8", "--json", env=offline)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["recipe"]["name"] == "small-dense" and out["recipe"]["stats"]["num_entities"] == 30  # 3.3 answers
    assert set(out["recipe"]["overridden"]) == {"dim", "epochs"}
    assert re.search(r"^recipe small-dense \(30 entities, 3 relations, 298 train triples, no text or images; cpu\): "
                     r"decoder complex, .*yours: dim, epochs$", result.stderr, re.MULTILINE), result.stderr
    saved = TrainConfig.from_file(Path(out["checkpoint"]) / "config.toml")
    dense = RECIPES["small-dense"].fields
    assert (saved.decoder, saved.dim, saved.epochs, saved.patience) == ("complex", 8, 2, dense["patience"])

    recipe_file = tmp_path / "mine.toml"
    recipe_file.write_text('decoder = "distmult"\ndim = 12\n')
    result = run_cli("train", "--snapshot", str(snapshot), "--no-write-back", "--model", "recipe_cli",
                     "--config", str(recipe_file), "--epochs", "1", "--json", env=offline)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    saved = TrainConfig.from_file(Path(out["checkpoint"]) / "config.toml")
    assert (saved.decoder, saved.dim, saved.epochs) == ("distmult", 12, 1)  # the file's fields, then the flag
    assert saved.patience == dense["patience"] != TrainConfig().patience  # the rest: the recipe's

    result = run_cli("train", "--snapshot", str(snapshot), "--no-write-back", "--model", "recipe_cli",
                     "--recipe", "none", "--epochs", "1", "--json", env=offline)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["recipe"] is None and "recipe " not in result.stderr
    assert TrainConfig.from_file(Path(out["checkpoint"]) / "config.toml").decoder == TrainConfig().decoder


# -- text on a real subset, through the server ------------------------------------------------------------
def _wordnet_subset(data_dir: Path, folder: Path, num_triples: int = 600) -> None:
    """A WN18RR subset as a folder dataset: train triples around the first test triples' entities, and
    those test triples whose entities the train triples reach (each entity with its definition)."""
    dataset = open_dataset("wn18rr", source=data_dir)
    records = list(dataset.triples())
    test = [t for t in records if t.split == "test"][:60]
    seeds = {t.head for t in test} | {t.tail for t in test}
    train = [t for t in records if t.split == "train" and (t.head in seeds or t.tail in seeds)][:num_triples]
    used = {t.head for t in train} | {t.tail for t in train}
    test = [t for t in test if t.head in used and t.tail in used]  # 30 of them
    write_text_dataset(folder, dataset.entities(), train + test)


def test_wordnet_definitions_train_and_evaluate_through_the_server(graph: Graph, run_cli, data_dir: Path,  # noqa: ANN001
                                                                   tmp_path: Path) -> None:
    _wordnet_subset(data_dir, tmp_path / "wn")
    synced = run_cli("sync", "--namespace", "wnrecipe", "--triples", str(tmp_path / "wn" / "triples.tsv"),
                     "--entities", str(tmp_path / "wn" / "entities.jsonl"), env=THREADS)
    assert synced.exit_code == 0, synced.output

    asked = run_cli("train", "--model", "wn_text", "--dataset", "wnrecipe", "--modalities", "text", "--epochs", "20",
                    "--dim", "32", "--json", env=THREADS)
    assert asked.exit_code == 0, asked.output
    out = json.loads(asked.stdout)
    checkpoint = Path(out["checkpoint"])
    manifest = json.loads((checkpoint / "modalities.json").read_text())
    entities = out["write_back"]["vectors"]
    assert manifest["modalities"]["text"]["entities"] == entities  # every WordNet entity has its definition
    assert out["write_back"]["modalities"] == ["text"]
    assert "modalities" not in out["recipe"]["applied"]  # typed: the recipe left it alone
    test = out["metrics"]["test"]
    assert test["mrr"] > 5 / entities  # far above chance (about 1 / entities for random ranks)

    evaluated = run_cli("eval", str(checkpoint), "--dataset", "wnrecipe", "--json", env=THREADS)
    assert evaluated.exit_code == 0, evaluated.output
    assert abs(json.loads(evaluated.stdout)["metrics"]["mrr"] - test["mrr"]) < 1e-6
    written = graph.query("MATCH (m:KgModel {id: 'wn_text'}) RETURN m.meta_modalities AS modalities, "
                          "m.meta_test_mrr AS mrr")
    assert written == [{"modalities": "text", "mrr": pytest.approx(test["mrr"])}]

    # no flag: the graph has text, so the default trains with it (its features come from the cache)
    default = run_cli("train", "--model", "wn_default", "--dataset", "wnrecipe", "--epochs", "2", "--dim", "16",
                      "--no-write-back", "--json", env=THREADS)
    assert default.exit_code == 0, default.output
    chosen = json.loads(default.stdout)["recipe"]
    assert chosen["fields"]["modalities"] == ["text"] and "modalities" in chosen["applied"]
    assert chosen["stats"]["text_fraction"] == 1.0
    again = json.loads((Path(json.loads(default.stdout)["checkpoint"]) / "modalities.json").read_text())
    assert again["modalities"]["text"]["encoded"] == 0
