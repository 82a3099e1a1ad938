"""The training loop: ``train(snapshot, config, checkpoint_dir=...) -> TrainResult``.

One step takes a batch of *queries* ``(entity, relation)`` (tail queries ``(h, r, ?)`` and,
with reciprocal relations, head queries as ``(t, r^-1, ?)``) and either

* ``loss="1-n"``: scores each query against every entity (full batch) or, on sampled
  subgraphs, against the batch's own entities: its queries' entities and answers and
  ``num_negatives`` random ones (not the whole entity set, whose size would set a step's
  cost) and applies binary cross-entropy to label-smoothed
  multi-hot targets (Dettmers et al. 2018, https://arxiv.org/abs/1707.01476); or
* ``loss="1-n-ce"``: the same 1-N scores under softmax cross-entropy, one term per true
  answer (Lacroix et al. 2018, https://arxiv.org/abs/1806.07297); or
* ``loss="nssa"``: scores each true triple against ``num_negatives`` random entities
  (shared by the batch) with the self-adversarial loss of Sun et al. (2019),
  https://arxiv.org/abs/1902.10197:
  :math:`-\\log\\sigma(s^+) - \\sum_i p_i \\log\\sigma(-s^-_i)`,
  :math:`p = \\operatorname{softmax}(\\alpha s^-)` (not back-propagated).

Optimiser Adam; validation filtered MRR every ``eval_every`` epochs drives early
stopping; the best weights are kept. The run fills a checkpoint folder through
:class:`trainer.checkpoint.Checkpoint` (its docstring lists the files): config,
vocabulary, message graph, known facts, best weights, training state (what
``resume=True`` continues from), entity vectors, metrics and curves.

R-GCN steps pass messages over the whole graph or over a subgraph sampled around the
batch (``TrainConfig.sampler``, :func:`choose_full_batch`, :mod:`trainer.sampling`). A
sampled step computes only its seeds' vectors and updates only the entity rows it looked
up (sparse gradients, :mod:`trainer.optimizers`), so its cost does not grow with the
number of entities.
Several processes: :func:`trainer.distributed.launch` runs this under ``torchrun`` (PyTorch DDP).
"""

from __future__ import annotations

import copy
import math
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from trainer.checkpoint import Checkpoint
from trainer.config import STRUCTURAL, TrainConfig
from trainer.evaluation import evaluate
from trainer.model import KGModel
from trainer.optimizers import build_optimizer
from trainer.sampling import NeighborSampler
from trainer.snapshot import Snapshot
from trainer.targets import QueryIndex
from trainer.threads import set_threads

if TYPE_CHECKING:
    from trainer.ranks import Distributed



@dataclass
class TrainResult:
    """What :func:`train` returns: the trained model (best weights) and its numbers."""

    model: KGModel
    config: TrainConfig
    entity_vectors: np.ndarray  # float32 [E, dim], row i = snapshot.entity_keys[i]
    metrics: dict[str, Any]
    checkpoint_dir: Path
    entity_keys: list[str] = field(default_factory=list)

    @property
    def test(self) -> dict[str, Any]:
        return self.metrics.get("test", {})


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def estimate_full_batch_bytes(*, num_entities: int, num_train: int, config: TrainConfig) -> int:
    """Rough activation memory of one full-graph R-GCN step (float32, with gradients).

    Per layer: one message per edge (2 N edges with inverses) and a few ``[E, dim]``
    tensors, each kept for the backward pass (x3).
    """
    per_layer = (2 * num_train + 4 * num_entities) * config.dim * 4
    return 3 * per_layer * config.num_layers


FULL_GRAPH_MAX_TRIPLES = 20_000
"""``sampler="auto"``'s size rule: larger graphs train R-GCN on sampled subgraphs.

Measured (``bench/sampler_bench.py``, README's benchmark table), 2-layer R-GCN, 150 s on one
CPU thread: CoDEx-S (32,888 training triples) test MRR 0.337 full vs 0.323 with fan-out
10,5 (21 epochs instead of 14; an earlier, more loaded run: 0.299 vs 0.303); FB15k-237
(272,115) 0.032 vs 0.153. On the small graphs
(Nations 1,592, UMLS 5,216, Kinships 8,544 triples) a full-graph step is cheap and exact."""


def choose_full_batch(*, num_entities: int, num_train: int, config: TrainConfig) -> bool:
    """Whether R-GCN steps pass messages over the whole graph (else over sampled subgraphs).

    ``config.sampler`` ``"full"`` or ``"neighbor"`` decides; ``"auto"`` picks full-graph
    steps while the graph has at most :data:`FULL_GRAPH_MAX_TRIPLES` training triples and
    their activations fit ``config.full_batch_max_bytes``. Plain embeddings (0 layers) have
    no message passing: they are "full batch" unless the sampler is ``"neighbor"``, which then
    scores each query against its batch's answers and sampled negatives and updates only
    those rows: a step's cost no longer grows with the entity count (the ``huge`` recipe).
    """
    if config.num_layers == 0:
        return config.sampler != "neighbor"
    if config.sampler != "auto":
        return config.sampler == "full"
    if num_train > FULL_GRAPH_MAX_TRIPLES:
        return False
    need = estimate_full_batch_bytes(num_entities=num_entities, num_train=num_train, config=config)
    return need <= config.full_batch_max_bytes


class _Batches:
    """Training rows: 1-N queries (QueryIndex rows) or triples (entity, relation, answer)."""

    def __init__(self, train: np.ndarray, *, num_relations: int, config: TrainConfig) -> None:
        self.index = QueryIndex(train, num_relations=num_relations, both_directions=True)
        if config.one_to_n:
            self.size = len(self.index)
        else:
            query_e, query_r = self.index.queries()
            rows, answers = self.index.answers_of_rows(torch.arange(len(self.index)))
            self.triples = torch.stack([query_e[rows], query_r[rows], answers], dim=1)
            self.size = len(self.triples)

    def __len__(self) -> int:
        return self.size


def _smooth(targets: Tensor, eps: float) -> Tensor:
    return targets * (1.0 - eps) + eps / targets.size(1) if eps else targets


class Trainer:
    """State of one training run; :func:`train` is the public entry point."""

    def __init__(self, snapshot: Snapshot, config: TrainConfig, checkpoint_dir: Path,
                 distributed: Distributed | None = None) -> None:
        self.snapshot, self.config, self.dir = snapshot, config, Path(checkpoint_dir)
        self.distributed = distributed
        self.step_module: Any = None  # the DDP-wrapped step (distributed runs), see distribute()
        self.checkpoint = Checkpoint(self.dir)
        self.device = torch.device(config.device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("config.device is cuda but torch sees no GPU: use device='cpu' or a CUDA build")
        self.train_triples = snapshot.split("train")
        if len(self.train_triples) == 0:
            raise ValueError("the snapshot has no training triples (split code 0)")
        self.num_entities, self.num_relations = snapshot.num_entities, snapshot.num_relations
        self.modalities = self._prepare_modalities()
        self.model = KGModel.from_config(config, num_entities=self.num_entities, num_relations=self.num_relations,
                                         modality_dims={m: d.dim for m, d in self.modalities.items()})
        for name, data in self.modalities.items():
            self.model.encoder.features.set_features(name, torch.from_numpy(data.features),
                                                     torch.from_numpy(data.present))
        self.model.set_graph(self.train_triples)
        self.model.to(self.device)
        self.full_batch = choose_full_batch(num_entities=self.num_entities, num_train=len(self.train_triples),
                                            config=config)
        # Sampled steps touch a few rows of the entity table: sparse gradients keep a step's cost
        # off the entity count. Not under NCCL, which has no sparse all-reduce (gloo has).
        self.sparse = not self.full_batch and (distributed is None or self.device.type == "cpu")
        self.optimizer = build_optimizer(self.model, config, sparse=self.sparse)
        self.batches = _Batches(self.train_triples, num_relations=self.num_relations, config=config)
        self.filter_index = QueryIndex(snapshot.triples, num_relations=self.num_relations)
        self.sampler = None
        self._local: Tensor | None = None  # global entity id -> position in this step's subgraph, or -1
        self._local_nodes = torch.zeros(0, dtype=torch.long, device=self.device)
        if not self.full_batch:
            self.sampler = NeighborSampler(self.model.edge_index, self.model.edge_type,
                                           num_entities=self.num_entities)
        self.amp = config.amp and self.device.type == "cuda"
        self.epoch = 0
        self.history: list[dict[str, Any]] = []
        self.epoch_align_loss: float | None = None  # the last epoch's alignment loss (multimodal runs)
        self.validation: list[dict[str, Any]] = []
        self.best_mrr = -math.inf
        self.valid_from_train = 0  # train triples held out as the valid split (graphs without one)
        self.warm_start: Any = None  # trainer.warm_start.WarmStart when the run began from an older checkpoint
        self.best_epoch = 0
        self.best_state: dict[str, Tensor] | None = None
        self.bad_evals = 0
        self.train_seconds = 0.0
        self.eval_seconds = 0.0
        self.stopped = "epochs"

    @property
    def is_main(self) -> bool:
        """Whether this process validates and writes the checkpoint (rank 0, or the only process)."""
        return self.distributed is None or self.distributed.is_main

    def distribute(self) -> None:
        """Wrap the step in DDP (after a resume has loaded the weights): rank 0's weights go to all ranks.

        Each rank then draws its own negatives, dropout masks and samples: rank 0 goes on
        with the single-process random stream, rank ``k`` restarts it at ``seed + k``.
        """
        if self.distributed is None:
            return
        from trainer.ranks import StepLoss

        self.step_module = self.distributed.wrap(StepLoss(self.model, self._step),
                                                 find_unused_parameters=bool(self.modalities))
        if self.distributed.rank:
            torch.manual_seed(self.config.seed + self.distributed.rank)

    def _prepare_modalities(self) -> dict[str, Any]:
        """Text/image features of ``config.modalities`` (cached in the snapshot's ``features/``)."""
        if not self.config.modalities:
            return {}
        from trainer.modalities import prepare_modalities

        cache_dir = self.snapshot.feature_dir or self.checkpoint.features_dir
        return prepare_modalities(self.snapshot, self.config, cache_dir=cache_dir)

    # -- one step ------------------------------------------------------------------------
    def _encode(self, seeds: Tensor) -> tuple[Tensor, Tensor]:
        """Like :meth:`_encode_seeds`, and kept for this step's alignment loss."""
        self.encoded = self._encode_seeds(seeds)
        return self.encoded

    def _alignment_loss(self) -> Tensor | float:
        """``align_weight`` x InfoNCE of this step's entity vectors with their modalities (0 without)."""
        if not self.modalities or not self.config.align_weight:
            return 0.0
        from trainer.alignment import alignment_loss

        x, local = self.encoded
        loss = alignment_loss(self.model.encoder.features, x, local, batch_size=self.config.align_batch_size)
        return 0.0 if loss is None else self.config.align_weight * loss

    def _encode_seeds(self, seeds: Tensor) -> tuple[Tensor, Tensor]:
        """``(vectors of the computed entities, position of each global id or -1)``.

        Full-graph steps compute every entity; sampled ones the unique ``seeds``.
        """
        if self.full_batch:
            return self.model.entity_vectors(), torch.arange(self.num_entities, device=self.device)
        nodes, edge_index, edge_type, hops = self.sampler.sample(
            seeds, num_hops=self.config.num_layers, fanout=self.config.fanout, with_hops=True)  # type: ignore[arg-type]
        nodes = nodes.to(self.device)
        # only the seeds' vectors: the outer hops feed them and are not computed for themselves
        x = self.model.encoder(nodes, edge_index.to(self.device), edge_type.to(self.device), hops=hops)
        seeds = nodes[:hops[0]]
        # one [E] map kept across steps, reset at the previous step's seeds only: no per-step O(E) work
        if self._local is None:
            self._local = torch.full((self.num_entities,), -1, dtype=torch.long, device=self.device)
        self._local[self._local_nodes] = -1
        self._local[seeds] = torch.arange(seeds.numel(), device=self.device)
        self._local_nodes = seeds
        return x, self._local

    def _loss_1n(self, rows: Tensor) -> Tensor:
        config, index = self.config, self.batches.index
        keys = torch.as_tensor(index.keys[rows.numpy()])
        entity, relation = (keys // index.width).to(self.device), (keys % index.width).to(self.device)
        batch_pos, answers = index.answers_of_rows(rows, limit=None if self.full_batch else config.max_answers)
        batch_pos, answers = batch_pos.to(self.device), answers.to(self.device)
        if self.full_batch:
            x, local = self._encode(entity)
            candidates, cand_ids = x, None
        else:
            negatives = torch.randint(self.num_entities, (config.num_negatives,), device=self.device)
            cand_ids = torch.unique(torch.cat([entity, answers, negatives]))
            x, local = self._encode(cand_ids)
            candidates = x[local[cand_ids]]
        query = self.model.query_dropout(x[local[entity]])
        scores = self.model.score_candidates(query, relation, candidates)
        answer_col = answers if cand_ids is None else torch.searchsorted(cand_ids, answers)
        if config.loss == "1-n-ce":
            # one softmax term per true answer, so a query counts as often as it has answers
            loss = -torch.log_softmax(scores.float(), dim=1)[batch_pos, answer_col].mean()
        else:
            targets = torch.zeros_like(scores, dtype=torch.float32)
            targets[batch_pos, answer_col] = 1.0
            loss = F.binary_cross_entropy_with_logits(scores.float(), _smooth(targets, config.label_smoothing))
        if config.regularization:
            loss = loss + config.regularization * self.model.regularization(
                x[local[entity]][batch_pos], relation[batch_pos], x[local[answers]])
        return loss

    def _loss_nssa(self, rows: Tensor) -> Tensor:
        config = self.config
        entity, relation, answer = self.batches.triples[rows].to(self.device).t()
        negatives = torch.randint(self.num_entities, (config.num_negatives,), device=self.device)
        x, local = self._encode(torch.cat([entity, answer, negatives]))
        query = self.model.query_dropout(x[local[entity]])
        candidates = torch.cat([x[local[answer]], x[local[negatives]]])
        scores = self.model.score_candidates(query, relation, candidates).float()
        positive = scores[torch.arange(len(rows)), torch.arange(len(rows))]
        negative = scores[:, len(rows):]
        weights = torch.softmax(config.adversarial_temperature * negative, dim=1).detach()
        loss = (-F.logsigmoid(positive) - (weights * F.logsigmoid(-negative)).sum(1)).mean()
        if config.regularization:
            loss = loss + config.regularization * self.model.regularization(x[local[entity]], relation,
                                                                             x[local[answer]])
        return loss

    def _step(self, rows: Tensor) -> tuple[Tensor, Tensor | float]:
        """``(loss, its alignment part)`` of one batch of training rows."""
        step_loss = self._loss_1n if self.config.one_to_n else self._loss_nssa
        loss = step_loss(rows)  # first: it encodes the seeds the alignment loss reads
        align = self._alignment_loss()
        return loss + align, align

    def run_epoch(self, deadline: float | None) -> tuple[float, bool]:
        """Mean loss of one epoch, and whether the time cap cut it short.

        Distributed, every rank walks rank 0's order of the rows and trains on its shard of
        each global batch (:meth:`trainer.ranks.Distributed.shard`).
        """
        self.model.train()
        distributed = self.distributed
        order = torch.randperm(len(self.batches)) if distributed is None else distributed.epoch_order(len(self.batches))
        step = self._step if self.step_module is None else self.step_module
        total, align_total, steps, cut = 0.0, 0.0, 0, False
        for start in range(0, len(order), self.config.batch_size):
            rows = order[start:start + self.config.batch_size]
            if distributed is not None:
                if len(rows) < distributed.world_size:  # a rank would have no rows
                    break
                rows = distributed.shard(rows)
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
                loss, align = step(rows)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach())
            align_total += float(align.detach()) if isinstance(align, Tensor) else align
            steps += 1
            if deadline is not None:
                late = time.perf_counter() > deadline
                if late if distributed is None else distributed.any(late):  # every rank stops at the same step
                    cut = True
                    break
        # The (weighted) alignment part of the loss, for the history and curves.png; None without modalities.
        self.epoch_align_loss = align_total / max(steps, 1) if self.modalities and self.config.align_weight else None
        return total / max(steps, 1), cut

    def validate(self) -> dict[str, Any]:
        start = time.perf_counter()
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            metrics = evaluate(self.model, self.snapshot.split("valid"), known_triples=self.snapshot.triples,
                               batch_size=self.config.eval_batch_size, per_relation=False,
                               filter_index=self.filter_index)
        self.eval_seconds += time.perf_counter() - start
        return metrics

    # -- checkpoint ----------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "best_state": self.best_state, "best_mrr": self.best_mrr, "best_epoch": self.best_epoch,
                "bad_evals": self.bad_evals, "history": self.history, "validation": self.validation,
                "train_seconds": self.train_seconds, "eval_seconds": self.eval_seconds,
                "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                        "random": random.getstate()}}

    def save_state(self) -> None:
        self.checkpoint.save_training_state(self.state())
        if self.best_state is not None:
            self.checkpoint.save_weights(self.best_state)

    def load_state(self) -> None:
        state = self.checkpoint.read_training_state(device=self.device)
        saved = self.checkpoint.read_config()
        changed = [name for name in STRUCTURAL if getattr(saved, name) != getattr(self.config, name)]
        if changed:
            raise ValueError(f"cannot resume {self.dir}: the config changes the model ({', '.join(changed)}); "
                             "start a new checkpoint folder instead")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for name in ("epoch", "best_state", "best_mrr", "best_epoch", "bad_evals", "history", "validation",
                     "train_seconds", "eval_seconds"):
            setattr(self, name, state[name])
        torch.set_rng_state(state["rng"]["torch"])
        np.random.set_state(state["rng"]["numpy"])
        random.setstate(state["rng"]["random"])

    def write_static(self) -> None:
        checkpoint = self.checkpoint
        checkpoint.save_config(self.config)
        checkpoint.save_vocab(self.snapshot.entity_keys, self.snapshot.relation_names,
                              fingerprint=self.snapshot.fingerprint)
        checkpoint.save_graph(self.train_triples)
        if self.modalities:
            from trainer.modalities import manifest

            checkpoint.save_modalities(manifest(self.config, self.modalities))
        # every split: the sidecar's filter_known drops all facts, not only training ones
        checkpoint.save_known(self.snapshot.triples)


def train(snapshot: Snapshot, config: TrainConfig | None = None, *, checkpoint_dir: Path | str,
          resume: bool = False, progress: bool = True,
          distributed: Distributed | None = None, warm_start: Path | str | None = None) -> TrainResult:
    """Train a link-prediction model on ``snapshot`` and write a checkpoint folder.

    Args:
        snapshot: entities, relations and split triples (train 0 / valid 1 / test 2).
        config: the :class:`TrainConfig` (default ``TrainConfig()``).
        checkpoint_dir: the folder for weights, config, vocabulary, metrics and plots.
        resume: continue from ``checkpoint_dir/training_state.pt`` up to ``config.epochs``.
        warm_start: an older checkpoint folder (of a smaller or changed graph) whose weights
            the new model starts from, by entity key and relation name
            (:mod:`trainer.warm_start`); a fresh optimiser and epoch count.
        progress: show a tqdm bar with loss and validation MRR.
        distributed: this process's rank in a ``torchrun`` job (set by
            :func:`trainer.distributed.main`; None = one process).

    Returns:
        :class:`TrainResult` with the best-validation model, the entity vectors
        (``float32 [E, dim]``, row ``i`` = ``snapshot.entity_keys[i]``) and the metrics
        (per-epoch loss, validation MRR, final filtered test metrics). In a distributed
        run only rank 0 has them: the other ranks return empty vectors and metrics.
    """
    from tqdm.auto import tqdm

    config = config or TrainConfig()
    set_threads(config.num_threads)
    seed_everything(config.seed)
    snapshot, held = snapshot.with_valid_from_train(seed=config.seed)
    if held and progress:
        tqdm.write(f"the graph has no valid split: {held:,} train triples (seeded) are held out to choose the "
                   "best epoch and stop early", file=sys.stderr)
    trainer = Trainer(snapshot, config, Path(checkpoint_dir), distributed)
    trainer.valid_from_train = held
    main = trainer.is_main
    if resume:  # distributed: every rank, so that every rank has the optimiser's state
        trainer.load_state()
    elif warm_start is not None:
        from trainer.warm_start import warm_start as carry_over

        trainer.warm_start = carry_over(trainer.model, config, warm_start, entity_keys=snapshot.entity_keys,
                                        relation_names=snapshot.relation_names)
        if progress and main:
            tqdm.write(trainer.warm_start.line(), file=sys.stderr)
    trainer.distribute()
    if main:
        trainer.write_static()
    has_valid = bool((snapshot.splits == 1).any())
    start = time.perf_counter()
    deadline = start + config.max_seconds if config.max_seconds else None
    bar = tqdm(range(trainer.epoch + 1, config.epochs + 1), initial=trainer.epoch, total=config.epochs,
               disable=not progress, desc="train", unit="epoch", dynamic_ncols=True)
    for epoch in bar:
        tick = time.perf_counter()
        loss, cut = trainer.run_epoch(deadline)
        seconds = time.perf_counter() - tick
        trainer.train_seconds += seconds
        trainer.epoch = epoch
        trainer.history.append({"epoch": epoch, "loss": loss, "seconds": seconds})
        if trainer.epoch_align_loss is not None:
            trainer.history[-1]["align_loss"] = trainer.epoch_align_loss
        last = epoch == config.epochs or cut
        if has_valid and ((config.eval_every and epoch % config.eval_every == 0) or last):
            stop = False
            if main:  # distributed: rank 0 validates while the others wait for its decision
                metrics = trainer.validate()
                summary = {k: v for k, v in metrics.items() if k not in ("head", "tail")}
                trainer.validation.append({"epoch": epoch, **summary})
                if metrics["mrr"] > trainer.best_mrr:
                    trainer.best_mrr, trainer.best_epoch, trainer.bad_evals = metrics["mrr"], epoch, 0
                    trainer.best_state = copy.deepcopy(trainer.model.state_dict())
                else:
                    trainer.bad_evals += 1
                bar.set_postfix(loss=f"{loss:.4f}", val_mrr=f"{metrics['mrr']:.4f}", best=f"{trainer.best_mrr:.4f}")
                trainer.save_state()
                stop = bool(config.patience and trainer.bad_evals >= config.patience)
            if distributed is not None:
                stop = distributed.from_main(stop)
            if stop:
                trainer.stopped = "early"
                break
        else:
            shown = {"best": f"{trainer.best_mrr:.4f}"} if trainer.validation else {}  # no best before a validation
            bar.set_postfix(loss=f"{loss:.4f}", **shown)
        if cut:
            trainer.stopped = "max_seconds"
            break
    bar.close()
    if not main:
        return TrainResult(model=trainer.model, config=config, entity_vectors=np.zeros((0, config.dim), np.float32),
                           metrics={}, checkpoint_dir=trainer.dir)
    if trainer.best_state is None:  # no validation split: keep the last weights
        trainer.best_state = copy.deepcopy(trainer.model.state_dict())
        trainer.best_epoch = trainer.epoch
    trainer.save_state()
    return _finish(trainer)


def _finish(trainer: Trainer) -> TrainResult:
    """Load the best weights, evaluate on test, write vectors, metrics and plots."""
    model, snapshot, config = trainer.model, trainer.snapshot, trainer.config
    model.load_state_dict(trainer.best_state)
    model.eval()
    metrics: dict[str, Any] = {
        "epochs": trainer.history, "validation": trainer.validation, "best_epoch": trainer.best_epoch,
        "best_valid_mrr": trainer.best_mrr if trainer.best_mrr > -math.inf else None,
        "valid_from_train": trainer.valid_from_train,
        "warm_start": None if trainer.warm_start is None else {
            "from": str(trainer.warm_start.source), "entities_kept": trainer.warm_start.entities_kept,
            "entities_new": trainer.warm_start.entities_new, "relations_kept": trainer.warm_start.relations_kept,
            "relations_new": trainer.warm_start.relations_new},
        "stopped": trainer.stopped, "full_batch": trainer.full_batch, "device": str(trainer.device),
        "processes": 1 if trainer.distributed is None else trainer.distributed.world_size,
        "train_seconds": trainer.train_seconds, "eval_seconds": trainer.eval_seconds,
        "train_triples": int(len(trainer.train_triples)),
        "triples_per_second": len(trainer.train_triples) * len(trainer.history) / max(trainer.train_seconds, 1e-9),
    }
    if (snapshot.splits == 2).any():
        start = time.perf_counter()
        with torch.autocast(device_type=trainer.device.type, dtype=torch.bfloat16, enabled=trainer.amp):
            metrics["test"] = evaluate(model, snapshot.split("test"), known_triples=snapshot.triples,
                                       relation_names=snapshot.relation_names, batch_size=config.eval_batch_size,
                                       filter_index=trainer.filter_index)
        metrics["test_seconds"] = time.perf_counter() - start
    with torch.no_grad():
        vectors = model.entity_vectors().float().cpu().numpy().astype(np.float32)
    trainer.checkpoint.save_entity_vectors(vectors)
    trainer.checkpoint.save_metrics(metrics)
    trainer.checkpoint.save_plots(metrics)
    return TrainResult(model=model, config=config, entity_vectors=vectors, metrics=metrics,
                       checkpoint_dir=trainer.dir, entity_keys=list(snapshot.entity_keys))
