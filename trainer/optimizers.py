"""The training optimiser: dense for full-graph steps, row-sparse entity tables for sampled ones.

A step on a sampled subgraph looks up a few thousand rows of the entity table. With a
dense gradient, the gradient and every optimiser step are as large as the table whatever
the batch, so a step's cost grows with the number of entities (issue 16: the scale
curve's epoch time had a log-log slope of 1.24). :func:`build_optimizer` with
``sparse=True`` makes the tables' gradients sparse (``nn.Embedding(sparse=True)``, through
:meth:`trainer.model.KGModel.use_sparse_entity_gradients`) and steps them with
:class:`RowOptimizer`, which reads and writes only the rows of the gradient; the other
parameters (R-GCN weights, relation vectors: sizes that do not grow with the graph) keep
the dense optimiser. :class:`SparseAndDense` steps both as one.

.. note:: Why not ``torch.optim.SparseAdam`` or ``Adagrad``'s own sparse path: both
   coalesce the gradient first, which on 2 CPU cores took 0.36 s for 40k rows x 64
   (measured), longer than a dense Adam step over a 300k-row table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from trainer.config import TrainConfig

if TYPE_CHECKING:
    from trainer.model import KGModel


ADAGRAD_MODALITY_LR = 0.01
"""The fusion heads' step size under Adagrad, as a share of ``lr``. Adagrad's first steps move every
weight by about ``lr`` whatever its gradient, and a 384-input projection of standardised text
features then moves each entity's vector by hundreds of times that. On WN18RR (+text, ComplEx,
adagrad 0.1) a tenth of ``lr`` collapsed test MRR to 0.25 (Hits@1 0.05) against structure's 0.45;
a hundredth reached test MRR 0.456 against structure's 0.464, with a higher Hits@10 (0.552 against
0.534; measured to a plateau, bench/multimodal_ablation.py)."""


def build_optimizer(model: KGModel, config: TrainConfig, *, sparse: bool = False) -> Any:
    """``config.optimizer`` over ``model.parameter_groups``; ``sparse``: row-sparse entity tables.

    ``sparse=False`` (full-graph steps) gives the one dense ``torch.optim.Adam`` or
    ``Adagrad``, as before this module existed. ``sparse=True`` gives a
    :class:`SparseAndDense`: the entity tables under a :class:`RowOptimizer` of the same
    kind and learning rate, the rest under the dense optimiser.
    """
    adagrad = config.optimizer == "adagrad"
    modality_lr = config.modality_lr or (config.lr * ADAGRAD_MODALITY_LR if adagrad else config.lr)
    dense_cls = torch.optim.Adagrad if adagrad else torch.optim.Adam
    groups = model.parameter_groups(lr=config.lr, modality_lr=modality_lr)
    if not sparse:
        model.use_sparse_entity_gradients(False)
        return dense_cls(groups, lr=config.lr)
    tables = {id(p) for p in model.use_sparse_entity_gradients(True)}
    dense = [{**g, "params": [p for p in g["params"] if id(p) not in tables]} for g in groups]
    rows = [{**g, "params": [p for p in g["params"] if id(p) in tables]} for g in groups]
    return SparseAndDense(dense=dense_cls([g for g in dense if g["params"]], lr=config.lr),
                          sparse=RowOptimizer([g for g in rows if g["params"]], kind=config.optimizer, lr=config.lr))


class RowOptimizer(torch.optim.Optimizer):
    """Adam or Adagrad steps of 2-d tables with sparse gradients, computed on the gradient's rows only.

    * ``kind="adagrad"``: the update of ``torch.optim.Adagrad`` (no decay,
      ``initial_accumulator_value`` 0, ``eps`` 1e-10). A row whose gradient is zero does
      not move under dense Adagrad either, so the result is the dense optimiser's.
    * ``kind="adam"``: "lazy" Adam, as ``torch.optim.SparseAdam``: a row's moments and value
      change only in the steps whose gradient has that row (dense Adam goes on moving every
      row by its momentum); bias correction counts the table's steps.

    Rows repeated in a gradient (an entity looked up twice) are summed first.
    """

    def __init__(self, params: Any, *, kind: str, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float | None = None) -> None:
        if kind not in ("adam", "adagrad"):
            raise ValueError(f"RowOptimizer kind {kind!r}: use 'adam' or 'adagrad'")
        eps = (1e-8 if kind == "adam" else 1e-10) if eps is None else eps
        super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})
        self.kind = kind

    @torch.no_grad()
    def step(self, closure: Any = None) -> None:  # type: ignore[override]
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is None:
                    continue
                if not param.grad.is_sparse:
                    raise ValueError("RowOptimizer steps sparse gradients: build the table with "
                                     "nn.Embedding(sparse=True) (KGModel.use_sparse_entity_gradients)")
                rows, grad = _rows(param.grad)
                state = self.state[param]
                if not state:
                    state["step"] = torch.zeros((), dtype=torch.float32)
                    state["sum"] = torch.zeros_like(param)
                    if self.kind == "adam":
                        state["exp_avg"] = torch.zeros_like(param)
                state["step"] += 1
                if self.kind == "adagrad":
                    total = state["sum"].index_select(0, rows).addcmul_(grad, grad)
                    state["sum"].index_copy_(0, rows, total)
                    param.index_add_(0, rows, grad / total.sqrt().add_(group["eps"]), alpha=-group["lr"])
                else:
                    beta1, beta2 = group["betas"]
                    step = float(state["step"])
                    mean = state["exp_avg"].index_select(0, rows).lerp_(grad, 1 - beta1)
                    square = state["sum"].index_select(0, rows).mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                    state["exp_avg"].index_copy_(0, rows, mean)
                    state["sum"].index_copy_(0, rows, square)
                    scale = group["lr"] * (1 - beta2 ** step) ** 0.5 / (1 - beta1 ** step)
                    denominator = square.sqrt_().add_(group["eps"] * (1 - beta2 ** step) ** 0.5)
                    param.index_add_(0, rows, mean / denominator, alpha=-scale)


def _rows(grad: Tensor) -> tuple[Tensor, Tensor]:
    """``(unique rows [n], their summed gradient [n, dim])`` of a sparse ``[E, dim]`` gradient."""
    indices, values = grad._indices()[0], grad._values()
    rows, inverse = torch.unique(indices, return_inverse=True)
    if rows.numel() == indices.numel():  # no repeats: reorder instead of summing
        return rows, values.new_empty(values.shape).index_copy_(0, inverse, values)
    return rows, values.new_zeros((rows.numel(), values.size(1))).index_add_(0, inverse, values)


class SparseAndDense:
    """Two optimisers stepped as one: ``sparse`` for the sparse-gradient tables, ``dense`` for the rest.

    Offers what the training loop and the checkpoint use (``zero_grad``, ``step``,
    ``state_dict``, ``load_state_dict``); the state is ``{"dense": ..., "sparse": ...}``.
    """

    def __init__(self, *, dense: torch.optim.Optimizer, sparse: torch.optim.Optimizer) -> None:
        self.dense, self.sparse = dense, sparse

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.dense.zero_grad(set_to_none=set_to_none)
        self.sparse.zero_grad(set_to_none=set_to_none)

    def step(self) -> None:
        self.dense.step()
        self.sparse.step()

    def state_dict(self) -> dict[str, Any]:
        return {"dense": self.dense.state_dict(), "sparse": self.sparse.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state) != {"dense", "sparse"}:
            raise ValueError("the saved optimiser state is one dense optimiser's (full-graph steps) and this run "
                             "steps row-sparse entity tables (the neighbour sampler): resume with the sampler it "
                             "was saved with, or start a new checkpoint folder")
        self.dense.load_state_dict(state["dense"])
        self.sparse.load_state_dict(state["sparse"])
