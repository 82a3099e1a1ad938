"""Filtered rank-based evaluation: MRR and Hits@k over head and tail queries.

For a test triple ``(h, r, t)`` the tail query ranks ``t`` among all entities by
``score(h, r, e)``, the head query ranks ``h`` among all entities by ``score(e, r, t)``.
*Filtered* (Bordes et al. 2013): every other entity that makes a known true triple
(train, valid or test) is removed from the candidates. Ties are broken *realistically*
(Berrendorf et al. 2020, https://arxiv.org/abs/2002.06914), as PyKEEN's
``RankBasedEvaluator``:

.. math::

    \\text{rank} = \\tfrac12 \\left( \\underbrace{1 + |\\{e : s_e > s\\}|}_{\\text{optimistic}}
    + \\underbrace{|\\{e : s_e \\ge s\\}|}_{\\text{pessimistic}} \\right)

with the true entity counted in the pessimistic set. MRR is the mean of ``1 / rank`` and
Hits@k the fraction of ``rank <= k`` over both directions (and per direction and relation).

Queries are scored ``batch_size`` at a time against all ``E`` entities, and the batch is
shrunk so that ``batch * E`` stays under ``max_scores``: memory is bounded for any graph.
Time is bounded too: when ranking every triple of the split would score more than
:data:`EVAL_MAX_SCORES` (queries x entities; far above any standard benchmark's: FB15k-237's
test split is 6e8, YAGO3-10's 1.2e9), a seeded sample of the triples is ranked instead
(:func:`eval_sample`), and the result says so (``sampled_from``; the tables print it).
A 10M-triple graph's million entities would otherwise take hours per evaluation on a CPU;
with the cap its sample is 1,000 triples per split (at 5e9 it was 2,500, and ranking them
took 9 minutes on this project's loaded 2-core CPU).

:func:`evaluate_checkpoint` is the whole ``kgstore eval`` job: a saved checkpoint on a
split of the graph (or a snapshot) it was trained on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor

from kgstore.errors import KgstoreError
from trainer.checkpoint import Checkpoint
from trainer.export import load_or_export
from trainer.snapshot import SPLIT_CODES
from trainer.targets import QueryIndex

if TYPE_CHECKING:
    from kgstore.driver import Graph
    from kgstore.home import KgstoreHome

ScoreFn = Callable[[Tensor, Tensor], Tensor]  # (entity ids [B], relation ids [B]) -> scores [B, E]
HITS_AT = (1, 3, 10)
EVAL_MAX_SCORES = 2_000_000_000
"""Queries x entities a filtered evaluation scores in full; above it a seeded sample is ranked."""
EVAL_MIN_SAMPLE = 1_000
"""Triples a sampled evaluation ranks at least (MRR's standard error stays near 0.01)."""


def eval_sample(triples: np.ndarray, num_entities: int, *, max_scores: int | None = EVAL_MAX_SCORES,
                seed: int = 0) -> np.ndarray:
    """``triples``, or a seeded sample of them (in their order) when ranking all costs over ``max_scores``.

    Each triple is two queries (head and tail) against every entity. The same triples and
    seed always give the same sample, so evaluations of two models compare on equal terms.
    """
    triples = np.asarray(triples).reshape(-1, 3)
    if max_scores is None or 2 * len(triples) * max(num_entities, 1) <= max_scores:
        return triples
    size = min(len(triples), max(EVAL_MIN_SAMPLE, max_scores // (2 * max(num_entities, 1))))
    rows = np.sort(np.random.default_rng(seed).choice(len(triples), size=size, replace=False))
    return triples[rows]


def realistic_ranks(scores: Tensor, true_entities: Tensor, filtered: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Realistic ranks ``[B]`` of ``true_entities`` ``[B]`` in ``scores`` ``[B, E]``.

    ``filtered`` is ``(batch position, entity)`` pairs removed from the candidates; the
    true entity itself is never removed.
    """
    scores = scores.float()
    true_scores = scores.gather(1, true_entities[:, None])
    if filtered is not None and filtered[0].numel():
        rows, cols = filtered[0].to(scores.device), filtered[1].to(scores.device)
        scores = scores.index_put((rows, cols), torch.tensor(float("-inf"), device=scores.device))
        scores.scatter_(1, true_entities[:, None], true_scores)
    optimistic = (scores > true_scores).sum(1) + 1
    pessimistic = (scores >= true_scores).sum(1)
    return 0.5 * (optimistic + pessimistic).double()


def rank_metrics(ranks: np.ndarray) -> dict[str, float]:
    """MRR, mean rank and Hits@1/3/10 of realistic ranks."""
    ranks = np.asarray(ranks, dtype=np.float64)
    if ranks.size == 0:
        return {"mrr": float("nan"), "mean_rank": float("nan"), **{f"hits@{k}": float("nan") for k in HITS_AT},
                "count": 0}
    return {"mrr": float(np.mean(1.0 / ranks)), "mean_rank": float(ranks.mean()),
            **{f"hits@{k}": float(np.mean(ranks <= k)) for k in HITS_AT}, "count": int(ranks.size)}


@torch.no_grad()
def rank_triples(
    triples: np.ndarray,
    *,
    score_tails: ScoreFn,
    score_heads: ScoreFn,
    num_entities: int,
    num_relations: int,
    filter_index: QueryIndex | None,
    batch_size: int = 256,
    max_scores: int = 2**25,
    device: torch.device | str = "cpu",
) -> tuple[np.ndarray, np.ndarray]:
    """Filtered realistic ``(head_ranks, tail_ranks)`` of ``triples`` ``[N, 3]``.

    ``score_tails(h, r)`` and ``score_heads(t, r)`` return ``[B, E]`` scores;
    ``filter_index`` indexes all known true triples in both directions (None = raw ranks).
    """
    triples = torch.as_tensor(np.asarray(triples), dtype=torch.long).reshape(-1, 3)
    step = max(1, min(batch_size, max_scores // max(num_entities, 1)))
    head_ranks, tail_ranks = [], []
    for start in range(0, len(triples), step):
        h, r, t = triples[start:start + step].to(device).t()
        for query, answer, rel, fn, out in ((h, t, r, score_tails, tail_ranks),
                                            (t, h, r + num_relations, None, head_ranks)):
            scores = score_tails(query, rel) if fn is not None else score_heads(query, r)
            filtered = filter_index.answers_of(query, rel) if filter_index is not None else None
            out.append(realistic_ranks(scores, answer, filtered).cpu())
    if not triples.numel():
        return np.zeros(0), np.zeros(0)
    return torch.cat(head_ranks).numpy(), torch.cat(tail_ranks).numpy()


def summarize(triples: np.ndarray, head_ranks: np.ndarray, tail_ranks: np.ndarray,
              relation_names: Sequence[str] | None = None) -> dict[str, Any]:
    """Metrics for both directions, each direction, and each relation (both directions)."""
    triples = np.asarray(triples).reshape(-1, 3)
    result: dict[str, Any] = {**rank_metrics(np.concatenate([head_ranks, tail_ranks])),
                              "head": rank_metrics(head_ranks), "tail": rank_metrics(tail_ranks)}
    per_relation = {}
    for rel in np.unique(triples[:, 1]):
        mask = triples[:, 1] == rel
        name = relation_names[rel] if relation_names is not None else str(int(rel))
        per_relation[name] = rank_metrics(np.concatenate([head_ranks[mask], tail_ranks[mask]]))
    result["per_relation"] = per_relation
    return result


@torch.no_grad()
def evaluate(
    model: Any,
    triples: np.ndarray,
    *,
    known_triples: np.ndarray,
    relation_names: Sequence[str] | None = None,
    batch_size: int = 256,
    per_relation: bool = True,
    filter_index: QueryIndex | None = None,
    max_scores: int | None = EVAL_MAX_SCORES,
) -> dict[str, Any]:
    """Filtered realistic MRR / Hits@k of a :class:`~trainer.model.KGModel` on ``triples``.

    ``known_triples`` are all true triples (train + valid + test) used by the filter
    (ignored when a prebuilt ``filter_index`` is given). Over ``max_scores`` a seeded sample
    of ``triples`` is ranked (:func:`eval_sample`) and ``sampled_from`` gives the split's size.
    """
    split_size = len(np.asarray(triples).reshape(-1, 3))
    triples = eval_sample(triples, model.num_entities, max_scores=max_scores)
    was_training = model.training
    model.eval()
    device = model.edge_index.device
    num_relations = model.num_relations
    try:
        entities = model.entity_vectors()
        if filter_index is None:
            filter_index = QueryIndex(known_triples, num_relations=num_relations)
        head_ranks, tail_ranks = rank_triples(
            triples, score_tails=lambda e, r: model.decoder.score_all_tails(entities[e], r, entities),
            score_heads=lambda t, r: model.score_heads(r, t, entities), num_entities=model.num_entities,
            num_relations=num_relations, filter_index=filter_index, batch_size=batch_size, device=device)
    finally:
        model.train(was_training)
    result = summarize(triples, head_ranks, tail_ranks, relation_names)
    if len(triples) < split_size:
        result["sampled_from"] = split_size
    if not per_relation:
        result.pop("per_relation")
    return result


def evaluate_snapshot(model: Any, snapshot: Any, split: str = "test", **kwargs: Any) -> dict[str, Any]:
    """:func:`evaluate` on one split of a :class:`~trainer.snapshot.Snapshot`, filtering with all its triples."""
    return evaluate(model, snapshot.split(split), known_triples=snapshot.triples,
                    relation_names=snapshot.relation_names, **kwargs)


def evaluate_checkpoint(graph: Graph | None, home: KgstoreHome, *, checkpoint: Path | None = None,
                        model: str = "default", split: str = "test", snapshot: Path | None = None,
                        namespaces: list[str] | None = None, device: str = "cpu",
                        progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Evaluate a checkpoint on a split of the graph it was trained on: what ``kgstore eval`` runs.

    Args:
        graph: the database to export the snapshot from (None when ``snapshot`` is given).
        home: where the model's checkpoints and the exported snapshots live.
        checkpoint: the checkpoint folder; default the latest one of ``model``.
        model: the model whose latest checkpoint to evaluate.
        split: ``"test"``, ``"valid"`` or ``"train"``.
        snapshot: a snapshot folder to evaluate on instead of exporting from ``graph``.
        namespaces: the dataset namespaces to export, as in training.
        device: torch device of the model.
        progress: show the export's progress bars.

    Returns:
        ``(checkpoint folder, metrics)``; the metrics are :func:`evaluate_snapshot`'s
        (filtered realistic MRR, Hits@1/3/10, per direction and per relation).

    Raises:
        KgstoreError: the model has no checkpoint, the checkpoint is incomplete, or the
            graph's entities are not the ones the checkpoint was trained on.
    """
    if split not in SPLIT_CODES:
        raise KgstoreError(f"unknown split {split!r}", hint=f"Use one of {', '.join(SPLIT_CODES)}.")
    folder = checkpoint or home.latest_checkpoint(model)
    if folder is None:
        raise KgstoreError(f"model {model!r} has no checkpoint in {home.models_dir}",
                           hint="Train one with `kgstore train`, or pass a CHECKPOINT folder.")
    saved = Checkpoint(folder)
    try:
        net, vocab = saved.load_model(device=device), saved.read_vocab()
    except FileNotFoundError as exc:
        raise KgstoreError(str(exc)) from exc
    data = load_or_export(graph, home, snapshot=snapshot, namespaces=namespaces, progress=progress)
    if list(data.entity_keys) != list(vocab["entity_keys"]):
        raise KgstoreError(f"the graph changed since {folder} was trained (its entities differ)",
                           hint="Evaluate with the snapshot it was trained on (--snapshot) or train again.")
    return Path(folder), evaluate_snapshot(net, data, split)
