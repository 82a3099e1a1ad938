"""Warm start: a model of a grown graph begins from the older checkpoint, by key and by name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from kgstore.importers.registry import open_dataset
from trainer.checkpoint import Checkpoint
from trainer.config import TrainConfig
from trainer.model import KGModel
from trainer.snapshot import Snapshot
from trainer.train import train
from trainer.warm_start import warm_start


@pytest.fixture(scope="module")
def umls(data_dir: Path) -> dict[str, list[tuple[str, str, str]]]:
    splits: dict[str, list[tuple[str, str, str]]] = {"train": [], "valid": [], "test": []}
    for record in open_dataset("umls", source=data_dir).triples():
        splits[record.split].append((record.head, record.relation, record.tail))
    return splits


def config(**changes) -> TrainConfig:  # noqa: ANN003
    base = dict(decoder="complex", dim=32, epochs=25, lr=0.01, batch_size=256, eval_every=5, num_threads=1,
                seed=0, dropout=0.0)
    return TrainConfig(**{**base, **changes})


@pytest.fixture(scope="module")
def older(umls, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, set[str], str]:
    """A checkpoint of UMLS without five entities and without one relation."""
    entities = sorted({e for rows in umls.values() for h, _, t in rows for e in (h, t)})
    gone, relation = set(entities[-5:]), sorted({r for _, r, _ in umls["train"]})[0]
    smaller = {split: [(h, r, t) for h, r, t in rows if h not in gone and t not in gone and r != relation]
               for split, rows in umls.items()}
    folder = tmp_path_factory.mktemp("older")
    train(Snapshot.from_labeled(smaller, meta={"dataset": "umls-part"}), config(), checkpoint_dir=folder,
          progress=False)
    return folder, gone, relation


def test_weights_are_carried_by_key_and_name_and_new_rows_keep_their_init(umls, older) -> None:
    folder, gone, relation = older
    full = Snapshot.from_labeled(umls, meta={"dataset": "umls"})
    torch.manual_seed(1)
    model = KGModel.from_config(config(), num_entities=full.num_entities, num_relations=full.num_relations)
    fresh = {name: p.detach().clone() for name, p in model.named_parameters()}
    report = warm_start(model, config(), folder, entity_keys=full.entity_keys, relation_names=full.relation_names)
    saved, vocab = Checkpoint(folder).read_weights(), Checkpoint(folder).read_vocab()
    new_entities = set(full.entity_keys) - set(vocab["entity_keys"])
    new_relations = set(full.relation_names) - set(vocab["relation_names"])
    assert gone <= new_entities and relation in new_relations
    assert (report.entities_new, report.relations_new) == (len(new_entities), len(new_relations))
    assert report.entities_kept == full.num_entities - len(new_entities)
    old_row = {key: i for i, key in enumerate(vocab["entity_keys"])}
    table = model.encoder.features.embedding.weight.detach()
    old_table = saved["encoder.features.embedding.weight"]
    for i, key in enumerate(full.entity_keys):
        if key in new_entities:
            assert torch.equal(table[i], fresh["encoder.features.embedding.weight"][i]), key
        else:
            assert torch.equal(table[i], old_table[old_row[key]]), key
    relations = model.decoder.relations.weight.detach()
    old_relations = saved["decoder.relations.weight"]
    r_new, r_old = full.num_relations, len(vocab["relation_names"])
    for j, name in enumerate(full.relation_names):
        for half in (0, 1):  # the relation and its inverse
            if name in new_relations:
                assert torch.equal(relations[j + half * r_new], fresh["decoder.relations.weight"][j + half * r_new])
            else:
                k = vocab["relation_names"].index(name)
                assert torch.equal(relations[j + half * r_new], old_relations[k + half * r_old])


def test_a_warm_start_begins_where_the_older_model_was(umls, older, tmp_path: Path) -> None:
    folder, _, _ = older
    full = Snapshot.from_labeled(umls, meta={"dataset": "umls"})
    warm = train(full, config(epochs=1), checkpoint_dir=tmp_path / "warm", progress=False, warm_start=folder)
    cold = train(full, config(epochs=1), checkpoint_dir=tmp_path / "cold", progress=False)
    assert warm.metrics["warm_start"]["entities_new"] >= 5
    assert cold.metrics["warm_start"] is None
    assert warm.test["mrr"] > cold.test["mrr"] + 0.1, (warm.test["mrr"], cold.test["mrr"])
    assert np.isfinite(warm.entity_vectors).all()


def test_a_changed_model_shape_is_refused(umls, older) -> None:
    folder, _, _ = older
    full = Snapshot.from_labeled(umls, meta={"dataset": "umls"})
    model = KGModel.from_config(config(dim=16), num_entities=full.num_entities, num_relations=full.num_relations)
    with pytest.raises(ValueError, match="changes the model \\(dim\\)"):
        warm_start(model, config(dim=16), folder, entity_keys=full.entity_keys, relation_names=full.relation_names)


def test_train_model_warm_starts_from_the_latest_checkpoint_with_its_config(umls, older, tmp_path: Path) -> None:
    from kgstore.errors import KgstoreError
    from kgstore.home import KgstoreHome
    from trainer.pipeline import train_model

    _, gone, relation = older
    home = KgstoreHome(tmp_path / "home")
    part, full = tmp_path / "part", tmp_path / "full"
    Snapshot.from_labeled({s: [x for x in rows if x[0] not in gone and x[2] not in gone] for s, rows in umls.items()},
                          meta={"dataset": "umls-part"}).save(part)
    Snapshot.from_labeled(umls, meta={"dataset": "umls"}).save(full)
    with pytest.raises(KgstoreError, match="no checkpoint to warm-start from"):
        train_model(None, home=home, model="m", config=config(epochs=1), explicit={"epochs"}, snapshot=full,
                    write_back=False, progress=False, warm_start=True)
    first = train_model(None, home=home, model="m", config=config(dim=24, epochs=5), snapshot=part,
                        write_back=False, progress=False)
    again = train_model(None, home=home, model="m", config=config(epochs=2), explicit={"epochs"}, snapshot=full,
                        write_back=False, progress=False, warm_start=True)
    assert again.result.metrics["warm_start"]["from"] == str(first.result.checkpoint_dir)
    assert again.result.config.dim == 24 and again.result.config.epochs == 2  # its config, one field changed
