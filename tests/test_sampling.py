"""Neighbour sampling: sampled subgraphs are real, bounded by the fan-out, and exact when they cover everything.

CPU only, no Neo4j server (UMLS and Nations from the packaged datasets).
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import pytest

from tests.extras import require

torch = require("torch", reason="the trainer tests need the train extra: pip install kgstore[train]")
torch.set_num_threads(int(os.environ.get("KGSTORE_NUM_THREADS", "1")))

from trainer.config import TrainConfig  # noqa: E402
from trainer.model import KGModel, message_graph  # noqa: E402
from trainer.sampling import NeighborSampler  # noqa: E402
from trainer.snapshot import Snapshot  # noqa: E402
from trainer.train import FULL_GRAPH_MAX_TRIPLES, choose_full_batch, train  # noqa: E402


@cache
def dataset(name: str) -> Snapshot:
    from kgstore.importers.registry import open_dataset

    splits: dict[str, list[tuple[str, str, str]]] = {"train": [], "valid": [], "test": []}
    for record in open_dataset(name).triples():
        splits[record.split].append((record.head, record.relation, record.tail))
    return Snapshot.from_labeled(splits)


def umls_graph() -> tuple[Snapshot, torch.Tensor, torch.Tensor]:
    snapshot = dataset("umls")
    edge_index, edge_type = message_graph(snapshot.split("train"), snapshot.num_relations)
    return snapshot, edge_index, edge_type


@pytest.mark.parametrize("encoder", [{"num_bases": 4}, {"num_blocks": 4}, {"encoder_kwargs": {"conv": "fast"}},
                                     {"num_bases": 4, "encoder_kwargs": {"residual": True}}])
def test_a_fanout_covering_every_neighbour_gives_the_full_graph_vectors(encoder: dict) -> None:
    snapshot, edge_index, edge_type = umls_graph()
    config = TrainConfig(dim=16, num_layers=2, dropout=0.0, **encoder)
    torch.manual_seed(0)
    model = KGModel.from_config(config, num_entities=snapshot.num_entities, num_relations=snapshot.num_relations)
    model.set_graph(snapshot.split("train"))
    model.eval()
    max_in_degree = int(torch.bincount(edge_index[1]).max())
    sampler = NeighborSampler(edge_index, edge_type, num_entities=snapshot.num_entities)
    seeds = torch.tensor([3, 17, 17, 42, 101])
    nodes, sub_index, sub_type = sampler.sample(seeds, num_hops=2, fanout=[max_in_degree, max_in_degree])
    assert nodes[:4].tolist() == [3, 17, 42, 101]  # the unique seeds first, sorted
    assert sub_index.size(1) < edge_index.size(1)  # a real subgraph, not the whole graph
    with torch.no_grad():
        full = model.entity_vectors()
        sampled = model.encoder(nodes, sub_index, sub_type)
    torch.testing.assert_close(sampled[:4], full[nodes[:4]], rtol=1e-5, atol=1e-5)
    # trimmed to the seeds (layer i computes the entities within L - 1 - i hops): the same vectors
    nodes, sub_index, sub_type, hops = sampler.sample(seeds, num_hops=2, fanout=[max_in_degree, max_in_degree],
                                                      with_hops=True)
    assert hops[0] == 4 and hops[0] < hops[1] < hops[2] == nodes.numel()
    with torch.no_grad():
        trimmed = model.encoder(nodes, sub_index, sub_type, hops=hops)
    assert trimmed.shape == (4, 16)
    torch.testing.assert_close(trimmed, full[nodes[:4]], rtol=1e-5, atol=1e-5)

    # a fan-out of 1 leaves neighbours out, and the seeds' vectors then differ
    nodes, sub_index, sub_type = sampler.sample(seeds, num_hops=2, fanout=[1, 1])
    with torch.no_grad():
        sparse = model.encoder(nodes, sub_index, sub_type)
    assert not torch.allclose(sparse[:4], full[nodes[:4]], atol=1e-5)


def test_sampled_edges_are_graph_edges_within_the_fanout_per_hop() -> None:
    snapshot, edge_index, edge_type = umls_graph()
    sampler = NeighborSampler(edge_index, edge_type, num_entities=snapshot.num_entities)
    graph_edges = set(zip(edge_index[0].tolist(), edge_index[1].tolist(), edge_type.tolist(), strict=True))
    seeds = torch.tensor([5, 60])
    nodes, sub_index, sub_type = sampler.sample(seeds, num_hops=2, fanout=[3, 2],
                                                generator=torch.Generator().manual_seed(1))
    assert nodes.unique().numel() == nodes.numel()
    triples = zip(nodes[sub_index[0]].tolist(), nodes[sub_index[1]].tolist(), sub_type.tolist(), strict=True)
    assert all(edge in graph_edges for edge in triples)
    into = torch.bincount(sub_index[1], minlength=nodes.numel())
    assert into[:2].max() <= 3  # first hop: at most 3 in-edges per seed
    assert into[2:].max() <= 2  # second hop: at most 2 per newly reached entity
    assert into[:2].min() >= 1
    # a single number is the fan-out of every hop; a list shorter than the hops repeats its last number
    one = sampler.sample(seeds, num_hops=2, fanout=2, generator=torch.Generator().manual_seed(1))
    listed = sampler.sample(seeds, num_hops=2, fanout=[2], generator=torch.Generator().manual_seed(1))
    for a, b in zip(one, listed, strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="fanout"):
        sampler.sample(seeds, num_hops=2, fanout=[0])


def test_sampler_config_and_size_rule() -> None:
    assert TrainConfig().sampler == "auto" and TrainConfig().fanout == [10, 5]
    assert TrainConfig(fanout=7).fanout == [7] and TrainConfig(fanout="10,5").fanout == [10, 5]
    assert TrainConfig(full_batch=False).sampler == "neighbor"  # the older spelling still reads
    for bad in ({"sampler": "sampled"}, {"fanout": [10, 0]}, {"fanout": "ten"},
                {"full_batch": True, "sampler": "neighbor"}):
        with pytest.raises(ValueError, match="sampler|fanout"):
            TrainConfig(**bad)
    rgcn = TrainConfig(num_layers=2, dim=32)
    assert choose_full_batch(num_entities=135, num_train=5_216, config=rgcn)  # UMLS: full graph
    assert not choose_full_batch(num_entities=2_034, num_train=FULL_GRAPH_MAX_TRIPLES + 1, config=rgcn)
    assert choose_full_batch(num_entities=10**6, num_train=10**8, config=TrainConfig(num_layers=2, sampler="full"))
    assert not choose_full_batch(num_entities=135, num_train=5_216, config=TrainConfig(num_layers=2,
                                                                                       sampler="neighbor"))
    assert choose_full_batch(num_entities=10**6, num_train=10**8, config=TrainConfig(num_layers=0))


def test_neighbour_sampled_training_learns(tmp_path) -> None:
    config = TrainConfig(dim=32, num_layers=2, num_bases=4, sampler="neighbor", fanout=[5, 3], epochs=6,
                         eval_every=3, batch_size=256, lr=1e-2, num_negatives=16, dropout=0.1, seed=0,
                         num_threads=int(os.environ.get("KGSTORE_NUM_THREADS", "1")))
    result = train(dataset("nations"), config, checkpoint_dir=tmp_path, progress=False)
    assert result.metrics["full_batch"] is False
    assert result.metrics["best_valid_mrr"] > 0.45  # a random ranking of 14 entities scores about 0.23
    assert np.isfinite(result.entity_vectors).all()


def test_the_size_rule_in_help_and_readme_is_the_code_s() -> None:
    from pathlib import Path

    from click.testing import CliRunner

    from kgstore.cli import main

    help_text = " ".join(CliRunner().invoke(main, ["train", "--help"]).output.split())
    threshold = f"{FULL_GRAPH_MAX_TRIPLES:,}"
    assert f"auto = full up to {threshold} training triples" in help_text
    assert "--fanout N,N" in help_text and "--nproc" in help_text
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    assert f"full-graph steps up to **{threshold} training triples**" in readme


# -- sparse entity-table updates (issue 16: a sampled step must not cost the entity count) --------
def sampled_trainer(tmp_path, **overrides):
    from trainer.train import Trainer

    values = {"dim": 16, "num_layers": 2, "num_bases": 4, "sampler": "neighbor", "fanout": [2, 1], "batch_size": 8,
              "num_negatives": 4, "dropout": 0.0, "seed": 0, "num_threads": 1}
    torch.manual_seed(0)
    return Trainer(dataset("umls"), TrainConfig(**{**values, **overrides}), tmp_path)


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
@pytest.mark.parametrize("loss", ["1-n-ce", "nssa"])
def test_a_sampled_step_updates_only_the_entity_rows_it_looked_up(tmp_path, optimizer: str, loss: str) -> None:
    trainer = sampled_trainer(tmp_path, optimizer=optimizer, loss=loss)
    table = trainer.model.encoder.features.embedding.weight
    looked_up = []
    sample = trainer.sampler.sample
    trainer.sampler.sample = lambda *a, **k: looked_up.append(out := sample(*a, **k)) or out
    before = table.detach().clone()
    loss_value, _ = trainer._step(torch.arange(8))
    trainer.optimizer.zero_grad(set_to_none=True)
    loss_value.backward()
    assert table.grad.is_sparse  # the rows of the subgraph only, not an [E, dim] gradient
    trainer.optimizer.step()
    touched = torch.zeros(trainer.num_entities, dtype=torch.bool)
    touched[looked_up[0][0]] = True
    assert 0 < int(touched.sum()) < trainer.num_entities
    assert torch.equal(table.detach()[~touched], before[~touched])  # untouched rows keep their exact values
    assert not torch.equal(table.detach()[touched], before[touched])
    state = trainer.optimizer.sparse.state[table]
    assert not state["sum"][~touched].any()  # nor does the optimiser keep anything for them
    assert not trainer.sampler._seen.any() and (trainer.sampler._local == -1).all()  # scratch maps reset
    seeds = looked_up[0][0][:looked_up[0][3][0]]  # the step computed the seeds' vectors, and maps only them
    assert torch.equal(torch.nonzero(trainer._local >= 0).flatten(), seeds)


def test_row_optimizer_matches_dense_adagrad_and_sparse_adam() -> None:
    from trainer.optimizers import RowOptimizer

    torch.manual_seed(0)
    start = torch.randn(50, 4)
    steps = [(torch.tensor([3, 7, 7, 20]), torch.randn(4, 4)), (torch.tensor([7, 41]), torch.randn(2, 4)),
             (torch.tensor([0, 3]), torch.randn(2, 4))]
    for kind, reference_cls, sparse_reference in (("adagrad", torch.optim.Adagrad, False),
                                                  ("adam", torch.optim.SparseAdam, True)):
        mine, reference = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
        optimizer, expected = RowOptimizer([mine], kind=kind, lr=0.1), reference_cls([reference], lr=0.1)
        for rows, values in steps:
            grad = torch.sparse_coo_tensor(rows[None], values, (50, 4), check_invariants=True)
            mine.grad, reference.grad = grad, grad if sparse_reference else grad.to_dense()
            optimizer.step()
            expected.step()
            torch.testing.assert_close(mine.detach(), reference.detach(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="sparse"):
        mine.grad = torch.ones(50, 4)
        optimizer.step()


def test_full_graph_steps_keep_the_one_dense_optimiser(tmp_path) -> None:
    """The full-graph path (the recipes' MRRs): dense gradients and the same Adam, step for step."""
    from trainer.optimizers import SparseAndDense

    full = sampled_trainer(tmp_path / "a", sampler="full")
    assert type(full.optimizer) is torch.optim.Adam and not full.sparse
    assert not any(table.sparse for table in full.model.entity_tables())
    reference = sampled_trainer(tmp_path / "b", sampler="full")
    reference.optimizer = torch.optim.Adam(reference.model.parameter_groups(lr=3e-3, modality_lr=3e-3), lr=3e-3)
    for trainer in (full, reference):
        torch.manual_seed(1)
        for start in (0, 8):
            loss, _ = trainer._step(torch.arange(start, start + 8))
            trainer.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            trainer.optimizer.step()
    for (name, a), b in zip(full.model.state_dict().items(), reference.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    sampled = sampled_trainer(tmp_path / "c")
    assert isinstance(sampled.optimizer, SparseAndDense)
    sampled.optimizer.load_state_dict(sampled.optimizer.state_dict())
    with pytest.raises(ValueError, match="sampler"):  # a full-graph run's state does not resume a sampled run
        sampled.optimizer.load_state_dict(full.optimizer.state_dict())


# -- a hub query's answers are capped in sampled 1-N steps (issue 16: bounded memory per step) -------
def test_answers_of_rows_caps_a_hub_query_with_distinct_true_answers_and_leaves_the_rest() -> None:
    from trainer.targets import QueryIndex

    hub = np.array([[0, 0, t] for t in range(1, 501)])  # (0, r0) has 500 answers
    small = np.array([[501, 1, 502], [501, 1, 503], [504, 1, 505]])
    index = QueryIndex(np.concatenate([hub, small]), num_relations=2)
    rows = index.positions(torch.tensor([0, 501, 504]), torch.tensor([0, 1, 1]))
    full_pos, full_answers = index.answers_of_rows(rows)
    torch.manual_seed(0)
    seen = torch.zeros(506, dtype=torch.long)
    for _ in range(400):
        pos, answers = index.answers_of_rows(rows, limit=10)
        hub_answers = answers[pos == 0]
        assert hub_answers.numel() == 10 and hub_answers.unique().numel() == 10  # exactly the cap, no repeats
        assert bool(((hub_answers >= 1) & (hub_answers <= 500)).all())  # true answers only
        assert torch.equal(answers[pos > 0], full_answers[full_pos > 0])  # queries under the cap keep all theirs
        seen[hub_answers] += 1
    # every answer gets drawn, about equally often (expected 8 each over 400 draws of 10 of 500)
    assert bool((seen[1:501] > 0).all()) and int(seen[1:501].max()) < 30


def test_a_sampled_one_to_n_step_scores_at_most_the_cap_per_query(tmp_path) -> None:
    trainer = sampled_trainer(tmp_path, loss="1-n-ce", max_answers=3, num_layers=0, num_bases=None)
    index = trainer.batches.index
    counts = index.indptr[1:] - index.indptr[:-1]
    rows = torch.argsort(counts, descending=True)[:8]  # UMLS's queries with the most answers
    assert int(counts[rows].min()) > 3
    widths = []
    score = trainer.model.score_candidates
    trainer.model.score_candidates = lambda q, r, c: widths.append(c.shape[0]) or score(q, r, c)
    loss, _ = trainer._step(rows)
    assert torch.isfinite(loss)
    assert widths[0] <= 8 + 8 * 3 + trainer.config.num_negatives  # the batch's entities, capped answers, negatives
    with pytest.raises(ValueError, match="max_answers"):
        TrainConfig(max_answers=0)
