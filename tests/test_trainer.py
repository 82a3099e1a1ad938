"""Trainer tests on CPU: decoders, R-GCN encoder, filtered evaluation, training, checkpoints.

Small and fast (Nations, 14 entities); no Neo4j server needed.
"""

from __future__ import annotations

import dataclasses
import os
from functools import cache

import numpy as np
import pytest

from tests.extras import require  # noqa: E402

torch = require("torch", reason="the trainer tests need the train extra: pip install kgstore[train]")
torch.set_num_threads(int(os.environ.get("KGSTORE_NUM_THREADS", "1")))

import torch.nn.functional as F  # noqa: E402

from trainer.checkpoint import entity_vectors, load_checkpoint  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.decoders import DECODERS, resolve_decoder  # noqa: E402
from trainer.encoders import RGCNEncoder  # noqa: E402
from trainer.evaluation import EVAL_MIN_SAMPLE, eval_sample, evaluate, rank_triples, realistic_ranks  # noqa: E402
from trainer.model import KGModel, message_graph  # noqa: E402
from trainer.snapshot import Snapshot  # noqa: E402
from trainer.targets import QueryIndex  # noqa: E402
from trainer.train import choose_full_batch, train  # noqa: E402

EXERCISED_DECODERS: set[str] = set()
THREADS = int(os.environ.get("KGSTORE_NUM_THREADS", "1"))  # tiny tensors: 1 thread is fastest


@cache
def nations() -> Snapshot:
    from kgstore.importers.registry import open_dataset

    splits: dict[str, list[tuple[str, str, str]]] = {"train": [], "valid": [], "test": []}
    for record in open_dataset("nations").triples():
        splits[record.split].append((record.head, record.relation, record.tail))
    return Snapshot.from_labeled(splits)


def tiny_config(**overrides) -> TrainConfig:
    values = {"dim": 32, "epochs": 2, "batch_size": 128, "eval_every": 1, "num_threads": THREADS, "seed": 0}
    return TrainConfig(**{**values, **overrides})


# -- decoders -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(DECODERS))
def test_decoder_one_to_n_agrees_with_triple_scores(name: str) -> None:
    EXERCISED_DECODERS.add(name)
    torch.manual_seed(0)
    num_entities, num_relations, dim, batch = 7, 3, 8, 5
    decoder = resolve_decoder(name, num_relations=num_relations, dim=dim).double()
    entities = torch.randn(num_entities, dim, dtype=torch.float64)
    h = torch.randint(num_entities, (batch,))
    r = torch.randint(num_relations, (batch,))
    t = torch.randint(num_entities, (batch,))
    all_tails = decoder.score_all_tails(entities[h], r, entities)
    all_heads = decoder.score_all_heads(r, entities[t], entities)
    assert all_tails.shape == all_heads.shape == (batch, num_entities)
    for e in range(num_entities):
        candidate = torch.full((batch,), e)
        torch.testing.assert_close(all_tails[:, e], decoder.score(entities[h], r, entities[candidate]))
        torch.testing.assert_close(all_heads[:, e], decoder.score(entities[candidate], r, entities[t]))


def test_resolve_decoder_names_the_choices() -> None:
    with pytest.raises(ValueError, match="distmult"):
        resolve_decoder("nope", num_relations=1, dim=2)
    with pytest.raises(ValueError, match="even dim"):
        resolve_decoder("complex", num_relations=1, dim=3)


def test_rotate_relations_have_unit_modulus() -> None:
    decoder = resolve_decoder("rotate", num_relations=2, dim=6)
    x = torch.randn(4, 6)
    rotated = decoder._rotate(x, decoder.relations(torch.tensor([0, 1, 0, 1])))
    re, im = decoder.split(x)
    rre, rim = decoder.split(rotated)
    torch.testing.assert_close(rre**2 + rim**2, re**2 + im**2)


# -- encoder --------------------------------------------------------------------------------
@pytest.mark.parametrize("decomposition", [{"num_bases": 4}, {"num_blocks": 4}, {}])
@pytest.mark.parametrize("conv", ["rgcn", "fast"])
def test_rgcn_variants_give_shapes(decomposition: dict, conv: str) -> None:
    snapshot = nations()
    edge_index, edge_type = message_graph(snapshot.split("train"), snapshot.num_relations)
    encoder = RGCNEncoder(num_entities=snapshot.num_entities, num_relations=2 * snapshot.num_relations, dim=16,
                          num_layers=2, dropout=0.1, conv=conv, **decomposition)
    out = encoder(torch.arange(snapshot.num_entities), edge_index, edge_type)
    assert out.shape == (snapshot.num_entities, 16)
    out.sum().backward()
    assert encoder.features.weight.grad is not None


def test_per_basis_rgcn_layer_equals_pyg_rgcnconv_values_and_gradients() -> None:
    from torch_geometric.nn import RGCNConv

    from trainer.encoders.rgcn import BasisRGCNConv

    snapshot = nations()
    edge_index, edge_type = message_graph(snapshot.split("train"), snapshot.num_relations)
    # Repeated edges and nodes that no edge of some relation reaches: the mean's denominators vary.
    edge_index, edge_type = torch.cat([edge_index, edge_index[:, :50]], 1), torch.cat([edge_type, edge_type[:50]])
    relations = 2 * snapshot.num_relations
    torch.manual_seed(0)
    reference = RGCNConv(12, 12, relations, num_bases=3, aggr="mean")
    ours = BasisRGCNConv(12, 12, relations, num_bases=3, aggr="mean")
    with torch.no_grad():
        reference.bias.normal_()
    ours.load_state_dict(reference.state_dict())  # the same parameters and names: checkpoints load either way
    x = torch.randn(snapshot.num_entities, 12)
    outputs, grads = [], []
    for conv in (reference, ours):
        inputs = x.clone().requires_grad_()
        out = conv(inputs, edge_index, edge_type)
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        outputs.append(out.detach())
        grads.append([inputs.grad, conv.weight.grad, conv.comp.grad, conv.root.grad, conv.bias.grad])
    torch.testing.assert_close(outputs[1], outputs[0], rtol=1e-5, atol=1e-5)
    for ours_grad, reference_grad in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(ours_grad, reference_grad, rtol=1e-4, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # mixed precision (as on the GPU) runs too
        assert ours(x.bfloat16(), edge_index, edge_type).shape == x.shape
    encoder = RGCNEncoder(num_entities=3, num_relations=2, dim=4, num_bases=2)
    assert isinstance(encoder.layers[0], BasisRGCNConv)
    assert type(RGCNEncoder(num_entities=3, num_relations=2, dim=4, num_blocks=2).layers[0]) is RGCNConv


def test_residual_rgcn_adds_each_layer_to_its_input() -> None:
    snapshot = nations()
    edge_index, edge_type = message_graph(snapshot.split("train"), snapshot.num_relations)
    encoder = RGCNEncoder(num_entities=snapshot.num_entities, num_relations=2 * snapshot.num_relations, dim=8,
                          num_layers=1, residual=True).eval()
    ids = torch.arange(snapshot.num_entities)
    with torch.no_grad():
        x = encoder.features(ids)
        torch.testing.assert_close(encoder(ids, edge_index, edge_type), x + encoder.layers[0](x, edge_index, edge_type))
        for parameter in encoder.layers.parameters():
            parameter.zero_()
        torch.testing.assert_close(encoder(ids, edge_index, edge_type), x)  # no messages: the plain embedding
    assert "residual=True" in repr(encoder)


def test_rgcn_rejects_two_decompositions() -> None:
    with pytest.raises(ValueError, match="not both"):
        RGCNEncoder(num_entities=3, num_relations=2, dim=4, num_bases=2, num_blocks=2)


def test_zero_layer_model_is_plain_embedding() -> None:
    model = KGModel.from_config(tiny_config(num_layers=0), num_entities=5, num_relations=2)
    vectors = model.entity_vectors()  # no graph needed
    torch.testing.assert_close(vectors, model.encoder.features.weight)
    assert model.score_tails(torch.tensor([0, 1]), torch.tensor([1, 0])).shape == (2, 5)


# -- evaluation -----------------------------------------------------------------------------
def test_realistic_filtered_ranks_by_hand() -> None:
    scores = torch.tensor([[0.9, 0.5, 0.5, 0.1, 0.5],   # true 1: tied with 2 and 4
                           [0.2, 0.8, 0.9, 0.3, 0.1]])  # true 0: 2 filtered away
    true = torch.tensor([1, 0])
    raw = realistic_ranks(scores, true)
    # row 0: optimistic 1 + |{0}| = 2, pessimistic |{0,1,2,4}| = 4 -> 3; row 1: optimistic 4, pessimistic 4
    assert raw.tolist() == [3.0, 4.0]
    filtered = realistic_ranks(scores, true, (torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 2, 0])))
    # row 0: entity 0 filtered, true entity 1 is never filtered -> optimistic 1, pessimistic 3 -> 2
    # row 1: entity 2 filtered -> optimistic 1 + |{1, 3}| = 3, pessimistic 3
    assert filtered.tolist() == [2.0, 3.0]


def test_rank_triples_filters_known_answers_in_both_directions() -> None:
    # 4 entities, 1 relation; scores: tail query prefers higher ids, head query prefers lower ids
    known = np.array([[0, 0, 3], [0, 0, 2], [1, 0, 2]])
    tails = torch.tensor([0.0, 1.0, 2.0, 3.0])
    heads = torch.tensor([3.0, 2.0, 1.0, 1.0])

    def score_tails(h, r):
        return tails.expand(len(h), -1)

    def score_heads(t, r):
        return heads.expand(len(t), -1)

    head_ranks, tail_ranks = rank_triples(np.array([[0, 0, 2]]), score_tails=score_tails, score_heads=score_heads,
                                          num_entities=4, num_relations=1,
                                          filter_index=QueryIndex(known, num_relations=1))
    # tail (0, r, ?): 3 scores higher but is a known answer -> filtered -> rank 1
    # head (?, r, 2): true 0 scores highest; 1 is a known head (filtered) -> rank 1
    assert tail_ranks.tolist() == [1.0] and head_ranks.tolist() == [1.0]
    head_ranks, tail_ranks = rank_triples(np.array([[1, 0, 2]]), score_tails=score_tails, score_heads=score_heads,
                                          num_entities=4, num_relations=1,
                                          filter_index=QueryIndex(known, num_relations=1))
    # tail (1, r, ?): 3 is not a tail of (1, r) -> rank 2; head (?, r, 2): 0 filtered, 2 and 3 below -> rank 1
    assert tail_ranks.tolist() == [2.0] and head_ranks.tolist() == [1.0]


def test_realistic_ranks_agree_with_pykeen() -> None:
    ranks_module = require("pykeen.metrics.ranking", reason="pykeen is the reference: pip install kgstore[dev]")
    from pykeen.evaluation.ranks import Ranks

    torch.manual_seed(1)
    scores = torch.randint(0, 4, (6, 9)).float()  # many ties
    true = torch.randint(0, 9, (6,))
    expected = Ranks.from_scores(true_score=scores.gather(1, true[:, None]), all_scores=scores).realistic
    torch.testing.assert_close(realistic_ranks(scores, true).float(), expected.float())
    assert ranks_module is not None


def test_evaluation_of_a_big_split_ranks_a_seeded_sample_and_says_so() -> None:
    snapshot = nations()
    model = KGModel.from_config(tiny_config(dim=16), num_entities=snapshot.num_entities,
                                num_relations=snapshot.num_relations)
    model.set_graph(snapshot.split("train"))
    test = snapshot.split("test")
    full = evaluate(model, test, known_triples=snapshot.triples)
    assert "sampled_from" not in full and full["count"] == 2 * len(test)
    budget = 2 * 150 * snapshot.num_entities  # scores for 150 triples: the sample holds EVAL_MIN_SAMPLE at least
    big = np.concatenate([test] * 8)  # a split bigger than the minimum sample
    sample = eval_sample(big, snapshot.num_entities, max_scores=budget)
    assert len(sample) == EVAL_MIN_SAMPLE and np.array_equal(sample, eval_sample(big, snapshot.num_entities,
                                                                                 max_scores=budget))
    assert {tuple(t) for t in sample} <= {tuple(t) for t in test}
    sampled = evaluate(model, big, known_triples=snapshot.triples, max_scores=budget)
    assert sampled["sampled_from"] == len(big) and sampled["count"] == 2 * EVAL_MIN_SAMPLE


# -- training, checkpoints ------------------------------------------------------------------
def random_model_mrr(snapshot: Snapshot) -> float:
    torch.manual_seed(123)
    model = KGModel.from_config(tiny_config(dim=64), num_entities=snapshot.num_entities,
                                num_relations=snapshot.num_relations)
    model.set_graph(snapshot.split("train"))
    return evaluate(model, snapshot.split("valid"), known_triples=snapshot.triples)["mrr"]


def test_training_beats_a_random_model(tmp_path) -> None:
    snapshot = nations()
    baseline = random_model_mrr(snapshot)
    result = train(snapshot, tiny_config(dim=64, epochs=15, eval_every=5, lr=1e-2), checkpoint_dir=tmp_path,
                   progress=False)
    assert result.metrics["best_valid_mrr"] > baseline + 0.15, (result.metrics["best_valid_mrr"], baseline)
    assert result.entity_vectors.shape == (snapshot.num_entities, 64)
    assert result.entity_vectors.dtype == np.float32
    assert {"mrr", "hits@1", "hits@3", "hits@10", "per_relation", "head", "tail"} <= set(result.test)
    for name in ("model.pt", "config.toml", "vocab.json", "metrics.json", "loss.png", "mrr.png",
                 "entity_vectors.npy", "graph.npy"):
        assert (tmp_path / name).is_file(), name


def test_a_graph_without_valid_split_holds_out_train_triples_for_model_selection(tmp_path) -> None:
    full = nations()
    no_valid = Snapshot(entity_keys=full.entity_keys, relation_names=full.relation_names,
                        triples=full.triples[full.splits != 1], splits=full.splits[full.splits != 1])
    held_snapshot, held = no_valid.with_valid_from_train(seed=0)
    train_count = int((no_valid.splits == 0).sum())
    assert held == int(train_count * 0.05) > 0
    assert int((held_snapshot.splits == 1).sum()) == held
    assert int((held_snapshot.splits == 0).sum()) == train_count - held
    assert ((held_snapshot.splits == 2) == (no_valid.splits == 2)).all()  # test is untouched
    assert (no_valid.with_valid_from_train(seed=0)[0].splits == held_snapshot.splits).all()  # seeded
    assert full.with_valid_from_train()[1] == 0  # a graph with a valid split keeps it

    result = train(no_valid, tiny_config(epochs=4, eval_every=2, patience=0), checkpoint_dir=tmp_path, progress=False)
    assert result.metrics["valid_from_train"] == held
    assert [row["epoch"] for row in result.metrics["validation"]] == [2, 4]
    assert 0.0 < result.metrics["best_valid_mrr"] <= 1.0
    assert result.metrics["train_triples"] == train_count - held


@pytest.mark.parametrize("decoder,loss", [("complex", "1-n"), ("complex", "1-n-ce"), ("rotate", "nssa"),
                                          ("transe", "nssa")])
def test_other_decoders_and_losses_train(tmp_path, decoder: str, loss: str) -> None:
    EXERCISED_DECODERS.add(decoder)
    result = train(nations(), tiny_config(decoder=decoder, loss=loss, num_negatives=8, regularization=1e-3),
                   checkpoint_dir=tmp_path, progress=False)
    assert np.isfinite([row["loss"] for row in result.metrics["epochs"]]).all()


def test_checkpoint_round_trip_and_resume(tmp_path) -> None:
    snapshot = nations()
    config = tiny_config(num_layers=1, num_bases=4, epochs=2)
    result = train(snapshot, config, checkpoint_dir=tmp_path, progress=False)
    model, loaded_config, vocab, metrics = load_checkpoint(tmp_path)
    assert loaded_config == config
    assert vocab["entity_keys"] == snapshot.entity_keys and vocab["relation_names"] == snapshot.relation_names
    assert metrics["test"]["mrr"] == pytest.approx(result.test["mrr"])
    triples = torch.as_tensor(snapshot.split("test")[:20])
    with torch.no_grad():
        result.model.eval()
        before = result.model.score(*triples.t())
        after = model.score(*triples.t())
    torch.testing.assert_close(before, after)
    np.testing.assert_allclose(entity_vectors(tmp_path), result.entity_vectors)
    np.testing.assert_allclose(model.entity_vectors().detach().numpy(), result.entity_vectors, rtol=1e-5, atol=1e-6)

    resumed = train(snapshot, tiny_config(num_layers=1, num_bases=4, epochs=4), checkpoint_dir=tmp_path,
                    resume=True, progress=False)
    assert [row["epoch"] for row in resumed.metrics["epochs"]] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="dim"):
        train(snapshot, tiny_config(num_layers=1, num_bases=4, dim=16, epochs=5), checkpoint_dir=tmp_path,
              resume=True, progress=False)


@pytest.mark.parametrize("full_batch", [True, False])
@pytest.mark.parametrize("loss", ["1-n", "1-n-ce", "nssa"])
def test_full_batch_and_mini_batch_run(tmp_path, full_batch: bool, loss: str) -> None:
    config = tiny_config(num_layers=2, num_blocks=4, full_batch=full_batch, loss=loss, num_negatives=8, fanout=3,
                         epochs=1, batch_size=512)
    result = train(nations(), config, checkpoint_dir=tmp_path, progress=False)
    assert result.metrics["full_batch"] is full_batch
    assert np.isfinite(result.test["mrr"])


def test_full_batch_size_rule() -> None:
    small = tiny_config(num_layers=1)
    assert choose_full_batch(num_entities=100, num_train=1000, config=small)
    assert not choose_full_batch(num_entities=10**6, num_train=10**8, config=small)
    assert choose_full_batch(num_entities=10**6, num_train=10**8, config=tiny_config(num_layers=0))
    assert not choose_full_batch(num_entities=100, num_train=1000, config=tiny_config(num_layers=1, full_batch=False))


def test_cross_entropy_loss_is_the_mean_over_true_triples(tmp_path) -> None:
    """``1-n-ce`` on grouped queries equals PyTorch's cross-entropy taken triple by triple."""
    from trainer.train import Trainer

    snapshot = nations()
    trainer = Trainer(snapshot, tiny_config(loss="1-n-ce", dropout=0.0), tmp_path)
    trainer.model.eval()
    rows = torch.arange(40)
    with torch.no_grad():
        grouped = trainer._loss_1n(rows)
        index = trainer.batches.index
        keys = torch.as_tensor(index.keys[:40])
        entity, relation = keys // index.width, keys % index.width
        batch_pos, answers = index.answers_of_rows(rows)
        x = trainer.model.entity_vectors()
        scores = trainer.model.score_candidates(x[entity], relation, x)
        per_triple = F.cross_entropy(scores[batch_pos], answers)
    assert answers.numel() > 40  # some queries have several answers, so the weighting matters
    torch.testing.assert_close(grouped, per_triple)


def test_adagrad_is_used_when_asked(tmp_path) -> None:
    from trainer.train import Trainer

    assert isinstance(Trainer(nations(), tiny_config(optimizer="adagrad"), tmp_path).optimizer, torch.optim.Adagrad)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="margin")
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="unknown TrainConfig fields"):
        TrainConfig.from_dict({"dimension": 3})
    with pytest.raises(ValueError, match="decoder 'distmul' .*distmult, complex, rotate, transe"):
        TrainConfig(decoder="distmul")


def test_decoder_names_are_the_registry() -> None:
    """The torch-free list the CLI offers is exactly what resolve_decoder builds."""
    from trainer.config import DECODER_NAMES

    assert sorted(DECODER_NAMES) == sorted(DECODERS)


@pytest.mark.parametrize("suffix", [".toml", ".yaml", ".yml", ".json"])
def test_config_files_round_trip(tmp_path, suffix: str) -> None:
    config = tiny_config(decoder="complex", decoder_kwargs={"margin": 9.0}, encoder_kwargs={"residual": True},
                         num_layers=1, num_bases=4, modalities=["text"], max_seconds=12.5)
    path = tmp_path / f"train{suffix}"
    config.save(path)
    assert TrainConfig.from_file(path) == config
    if suffix == ".toml":
        assert "num_blocks" not in path.read_text()  # TOML has no null: None fields are left out


def test_config_files_say_which_file_is_wrong(tmp_path) -> None:
    (tmp_path / "typo.toml").write_text('decoder = "complex"\ndimension = 64\n')
    with pytest.raises(ValueError, match=r"unknown TrainConfig fields \['dimension'\] in .*typo\.toml"):
        TrainConfig.from_file(tmp_path / "typo.toml")
    (tmp_path / "bad.yaml").write_text("decoder: complex\ndim: lots\n")
    with pytest.raises(ValueError, match=r"bad\.yaml.*dim = 'lots' \(expected int\)"):
        TrainConfig.from_file(tmp_path / "bad.yaml")
    (tmp_path / "sci.yaml").write_text("lr: 3e-3\n")  # YAML 1.1 reads this as a string
    assert TrainConfig.from_file(tmp_path / "sci.yaml").lr == pytest.approx(3e-3)
    (tmp_path / "bad.json").write_text('{"decoder": "nope"}')
    with pytest.raises(ValueError, match=r"bad\.json: invalid TrainConfig: decoder 'nope'"):
        TrainConfig.from_file(tmp_path / "bad.json")
    (tmp_path / "train.ini").write_text("")
    with pytest.raises(ValueError, match=r"use \.toml, \.yaml, \.yml, \.json"):
        TrainConfig.from_file(tmp_path / "train.ini")


def test_an_older_checkpoint_with_config_json_still_loads(tmp_path) -> None:
    from trainer.checkpoint import Checkpoint

    config = tiny_config(epochs=1)
    result = train(nations(), config, checkpoint_dir=tmp_path, progress=False)
    (tmp_path / "config.toml").unlink()
    config.save(tmp_path / "config.json")  # what kgstore wrote before config.toml
    model, loaded, _vocab, _metrics = load_checkpoint(tmp_path)
    assert loaded == config
    np.testing.assert_allclose(model.entity_vectors().detach().numpy(), result.entity_vectors, rtol=1e-5, atol=1e-6)
    Checkpoint(tmp_path).save_config(config)  # a resumed run writes config.toml and drops config.json
    assert (tmp_path / "config.toml").is_file() and not (tmp_path / "config.json").exists()


def test_set_threads_order(monkeypatch) -> None:
    from trainer.threads import set_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("KGSTORE_NUM_THREADS", "2")
        assert set_threads(1) == 1 and torch.get_num_threads() == 1  # the argument first
        assert set_threads(default=1) == 2 and torch.get_num_threads() == 2  # then the environment
        monkeypatch.delenv("KGSTORE_NUM_THREADS")
        assert set_threads(default=1) == 1  # then the default
        monkeypatch.setenv("KGSTORE_NUM_THREADS", "many")
        with pytest.raises(ValueError, match="KGSTORE_NUM_THREADS"):
            set_threads()
    finally:
        torch.set_num_threads(before)


def test_evaluate_checkpoint_from_a_home(tmp_path) -> None:
    """`kgstore eval`'s job without a database: the latest checkpoint on a snapshot folder."""
    from kgstore.errors import KgstoreError
    from kgstore.home import KgstoreHome
    from trainer.evaluation import evaluate_checkpoint
    from trainer.pipeline import train_model

    home = KgstoreHome(tmp_path / "home")
    with pytest.raises(KgstoreError, match="model 'tiny' has no checkpoint") as missing:
        evaluate_checkpoint(None, home, model="tiny", snapshot=tmp_path / "snap")
    assert "kgstore train" in missing.value.hint
    snapshot = dataclasses.replace(nations()).save(tmp_path / "snap")  # a copy: save() sets the path
    job = train_model(None, home=home, model="tiny", config=tiny_config(epochs=2), snapshot=snapshot,
                      write_back=False, progress=False)
    folder, metrics = evaluate_checkpoint(None, home, model="tiny", snapshot=snapshot)
    assert folder == job.result.checkpoint_dir.resolve() == home.latest_checkpoint("tiny")
    assert metrics["mrr"] == pytest.approx(job.result.test["mrr"])
    _, valid = evaluate_checkpoint(None, home, checkpoint=folder, split="valid", snapshot=snapshot)
    assert valid["count"] == 2 * int((nations().splits == 1).sum())

    other = Snapshot.from_labeled({"train": [("a", "r", "b")], "test": [("b", "r", "a")]}).save(tmp_path / "other")
    with pytest.raises(KgstoreError, match="the graph changed since .* was trained") as changed:
        evaluate_checkpoint(None, home, model="tiny", snapshot=other)
    assert "--snapshot" in changed.value.hint
    (folder / "model.pt").unlink()
    with pytest.raises(KgstoreError, match="model.pt is missing"):
        evaluate_checkpoint(None, home, model="tiny", snapshot=snapshot)


def test_every_registered_decoder_is_exercised() -> None:
    """Meta-test (runs last in this file): a new decoder without tests fails here."""
    missing = set(DECODERS) - EXERCISED_DECODERS
    assert not missing, f"decoders without tests: {sorted(missing)}"
