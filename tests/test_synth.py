"""`kgstore datasets synth`: a deterministic power-law graph that `kgstore sync` imports exactly."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from kgstore.cli import main
from kgstore.driver import Graph
from kgstore.importers.synth import SynthSpec, generate_triples

SPLITS = ("train", "valid", "test")


def synth(out: Path, *args: str) -> None:
    result = CliRunner().invoke(main, ["datasets", "synth", str(out), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def read_split(folder: Path, split: str) -> list[tuple[str, str, str]]:
    return [tuple(line.split("\t")) for line in (folder / f"{split}.txt").read_text().splitlines()]  # type: ignore[misc]


def test_same_options_give_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    options = ("--triples", "20000", "--entities", "1500", "--relations", "12", "--seed", "7")
    synth(tmp_path / "a", *options)
    synth(tmp_path / "b", *options)
    synth(tmp_path / "c", *options[:-1], "8")
    for name in ("train.txt", "valid.txt", "test.txt", "synth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "train.txt").read_bytes() != (tmp_path / "c" / "train.txt").read_bytes()


def test_exact_counts_no_repeats_and_held_out_vocabulary_in_train(tmp_path: Path) -> None:
    synth(tmp_path / "g", "--triples", "20000", "--entities", "1500", "--relations", "12",
          "--valid-fraction", "0.1", "--test-fraction", "0.05")
    splits = {split: read_split(tmp_path / "g", split) for split in SPLITS}
    assert {s: len(t) for s, t in splits.items()} == {"train": 17000, "valid": 2000, "test": 1000}
    every = [t for triples in splits.values() for t in triples]
    assert len(set(every)) == len(every) == 20000
    train_entities = {e for h, _, t in splits["train"] for e in (h, t)}
    train_relations = {r for _, r, _ in splits["train"]}
    assert train_entities == {f"e{i}" for i in range(1500)}
    assert train_relations == {f"r{i}" for i in range(12)}
    for split in ("valid", "test"):
        assert {e for h, _, t in splits[split] for e in (h, t)} <= train_entities, split
        assert {r for _, r, _ in splits[split]} <= train_relations, split
    meta = json.loads((tmp_path / "g" / "synth.json").read_text())
    assert meta["triples_by_split"] == {"train": 17000, "valid": 2000, "test": 1000}


def test_degrees_follow_a_power_law_and_relations_keep_their_types() -> None:
    spec = SynthSpec(entities=2000, relations=16, triples=40000, seed=3)
    triples = np.concatenate(list(generate_triples(spec).values()))
    degree = np.bincount(np.concatenate([triples[:, 0], triples[:, 2]]), minlength=spec.entities)
    assert degree.min() >= 1
    assert degree.max() > 10 * np.median(degree)  # hubs (here ~20x); uniform draws give under 4x
    # Typed relations: 16 relations over 16 entity types, each relation with its own head type,
    # so no entity heads triples of two relations.
    heads = [set(triples[triples[:, 1] == r, 0].tolist()) for r in range(spec.relations)]
    assert all(not (heads[a] & heads[b]) for a in range(16) for b in range(a + 1, 16))
    uniform = np.concatenate(list(generate_triples(SynthSpec(entities=2000, relations=16, triples=40000,
                                                              seed=3, exponent=0.0)).values()))
    flat = np.bincount(np.concatenate([uniform[:, 0], uniform[:, 2]]), minlength=spec.entities)
    assert flat.max() < 4 * np.median(flat)


@pytest.mark.parametrize(("args", "named"), [
    (("--triples", "100", "--entities", "100"), "--triples 100 is too few"),
    (("--triples", "1000", "--valid-fraction", "0.6"), "--valid-fraction must be in [0, 0.5)"),
    (("--triples", "1000", "--entities", "3", "--relations", "1"), "--triples 1,000 is too dense"),
    (("--triples", "1000", "--entities", "1"), "--entities"),
])
def test_bad_options_are_refused_naming_the_option(tmp_path: Path, args: tuple[str, ...], named: str) -> None:
    result = CliRunner().invoke(main, ["datasets", "synth", str(tmp_path / "g"), *args])
    assert result.exit_code != 0
    assert named in result.output
    assert not (tmp_path / "g" / "train.txt").exists()


def test_sync_imports_the_folder_exactly(graph: Graph, run_cli, tmp_path: Path) -> None:  # noqa: ANN001
    folder = tmp_path / "syn"
    synth(folder, "--triples", "3000", "--entities", "300", "--relations", "6", "--seed", "1")
    result = run_cli("sync", str(folder))
    assert result.exit_code == 0, result.output
    assert graph.query("MATCH (e:Entity {dataset: 'syn'}) RETURN count(e) AS n")[0]["n"] == 300
    rows = graph.query("MATCH (:Entity {dataset: 'syn'})-[r]->() RETURN r.split AS split, count(*) AS n")
    assert {row["split"]: row["n"] for row in rows} == {"train": 2700, "valid": 150, "test": 150}
    types = graph.query("MATCH (:Entity {dataset: 'syn'})-[r]->() RETURN type(r) AS type, count(*) AS n")
    expected = Counter(r for split in SPLITS for _, r, _ in read_split(folder, split))
    assert {row["type"]: row["n"] for row in types} == dict(expected)
