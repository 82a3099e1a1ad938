"""Top-k answers of link queries with FAISS, equal to the model's own 1-N ranking.

A query is ``(entity, relation)`` with relation ids as in
:meth:`trainer.model.KGModel.score_candidates`: ``r < R`` asks for tails ``(e, r, ?)``,
``r + R`` asks for heads ``(?, r, e)``. Each decoder's 1-N score is a nearest-neighbour
search over the entity vectors once the query is turned into one vector ``q``:

==========  ======================================  =====================================
decoder     tail query ``(h, r, ?)``                 head query ``(?, r, t)`` (non-reciprocal)
==========  ======================================  =====================================
distmult    ``q = h * r``, inner product             ``q = r * t``, inner product
complex     ``q = h * r`` (complex), inner product   ``q = conj(r * conj(t))``, inner product
transe      ``q = h + r``, L1 or L2 (its ``p``)       ``q = t - r``, same norm
rotate      ``q = h * r`` (rotation), L2             ``q = t * conj(r)``, L2
==========  ======================================  =====================================

Reciprocal models ask head queries as tail queries of ``r + R``, exactly as
``KGModel.score_heads`` does. Inner products rank like the bilinear scores; distances rank
like ``margin - distance`` in reverse. For distances FAISS only chooses the candidates:
every returned score is computed again by the decoder itself (``Decoder.score``), so
``/predict`` reports the decoder's value, margin and norm included, not a FAISS distance.
An exact inner-product search already yields the decoder's scores (DistMult's and
ComplEx's score *is* ``<q, t>``), so those are returned as FAISS computed them: rescoring
them was a quarter of a single query's CPU.

A decoder that is not in the table (a newly registered one) is answered by brute force:
``KGModel.score_candidates`` against every entity, then ``torch.topk``. Same answers,
``O(E)`` per query.

``index="exact"`` searches with ``IndexFlat`` (identical ranking to brute force, up to
float rounding of near-ties); ``index="hnsw"`` with ``IndexHNSWFlat`` (approximate, for
graphs of millions of entities; ``efSearch`` grows with the number of candidates fetched).

GPU: with a GPU build of FAISS (the ``gpu`` extra's ``faiss-gpu`` wheel in place of
``faiss-cpu``: both install the ``faiss`` module, see pyproject.toml) and a CUDA device it
can see, the exact index is copied to the GPU (``GpuIndexFlat``, one
``StandardGpuResources`` per process); HNSW has no GPU form and stays on the CPU.
``$KGSTORE_FAISS=cpu`` keeps every index on the CPU.
:func:`faiss_backend` says which applies; the sidecar prints it at start and reports it
in ``/health``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from trainer.decoders import ComplEx, Decoder, DistMult, RotatE, TransE
from trainer.model import KGModel

INDEX_KINDS = ("exact", "hnsw")
HNSW_NEIGHBORS = 32
HNSW_MIN_EF_SEARCH = 64
# queries x candidates x dim floats gathered per chunk for exact rescoring (64 MiB)
RESCORE_BUDGET = 1 << 24
FAISS_BACKEND_ENV = "KGSTORE_FAISS"
FAISS_BACKENDS = ("cpu", "gpu")


@dataclass(frozen=True)
class QueryForm:
    """How one decoder's 1-N scores become a FAISS search.

    ``vector(decoder, query, relation, head)``: the search vector of query entity vectors
    ``[B, dim]`` with relation ids ``[B]`` (``head``: a head query of a non-reciprocal
    model, ids ``< R``). ``metric(decoder)``: ``"ip"``, ``"l1"`` or ``"l2"``.
    """

    vector: Callable[[Decoder, Tensor, Tensor, bool], Tensor]
    metric: Callable[[Decoder], str]


def _distmult(decoder: Decoder, query: Tensor, relation: Tensor, head: bool) -> Tensor:
    return query * decoder.relations(relation)  # symmetric: the same for heads


def _complex(decoder: Decoder, query: Tensor, relation: Tensor, head: bool) -> Tensor:
    r = decoder.relations(relation)
    if head:
        return ComplEx._conj(ComplEx._times(r, ComplEx._conj(query)))
    return ComplEx._times(query, r)


def _transe(decoder: Decoder, query: Tensor, relation: Tensor, head: bool) -> Tensor:
    r = decoder.relations(relation)
    return query - r if head else query + r


def _rotate(decoder: Decoder, query: Tensor, relation: Tensor, head: bool) -> Tensor:
    return decoder._rotate(query, decoder.relations(relation), sign=-1.0 if head else 1.0)


QUERY_FORMS: dict[type[Decoder], QueryForm] = {
    DistMult: QueryForm(_distmult, lambda _: "ip"),
    ComplEx: QueryForm(_complex, lambda _: "ip"),
    TransE: QueryForm(_transe, lambda decoder: f"l{decoder.p}"),
    RotatE: QueryForm(_rotate, lambda _: "l2"),
}


def faiss_backend() -> str:
    """``"gpu"`` when this FAISS build has GPU support and sees a CUDA device, else ``"cpu"``.

    ``$KGSTORE_FAISS=cpu`` forces the CPU; ``$KGSTORE_FAISS=gpu`` without a usable GPU is an error
    that says what is missing.
    """
    import faiss

    wanted = os.environ.get(FAISS_BACKEND_ENV, "").strip().lower()
    if wanted and wanted not in FAISS_BACKENDS:
        raise ValueError(f"${FAISS_BACKEND_ENV}={wanted!r}: use one of {', '.join(FAISS_BACKENDS)} (or unset it)")
    gpu_build = hasattr(faiss, "StandardGpuResources")
    gpus = faiss.get_num_gpus() if gpu_build else 0
    if wanted == "gpu" and gpus == 0:
        missing = ("this FAISS build has no GPU support: pip uninstall -y faiss-cpu && pip install "
                   "--force-reinstall --no-deps faiss-gpu"
                   if not gpu_build else "FAISS sees no CUDA device (check nvidia-smi and CUDA_VISIBLE_DEVICES)")
        raise RuntimeError(f"${FAISS_BACKEND_ENV}=gpu but {missing}")
    return "gpu" if gpus > 0 and wanted != "cpu" else "cpu"


_gpu_resources = None
_gpu_lock = threading.Lock()


def _to_gpu(index):  # noqa: ANN001, ANN202 - faiss.Index
    """``index`` copied to GPU 0, sharing one ``StandardGpuResources`` per process."""
    import faiss

    global _gpu_resources
    with _gpu_lock:
        if _gpu_resources is None:
            _gpu_resources = faiss.StandardGpuResources()
        return faiss.index_cpu_to_gpu(_gpu_resources, 0, index)


def build_index(vectors: np.ndarray, *, metric: str, kind: str = "exact",  # noqa: ANN201 - faiss.Index
                backend: str = "cpu"):
    """A FAISS index over ``vectors`` ``float32 [E, dim]`` (``kind`` in :data:`INDEX_KINDS`).

    ``backend="gpu"`` puts an exact index on the GPU (see the module docstring); an HNSW
    index stays on the CPU.
    """
    import faiss

    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index {kind!r}: use one of {', '.join(INDEX_KINDS)}")
    faiss_metric = {"ip": faiss.METRIC_INNER_PRODUCT, "l1": faiss.METRIC_L1, "l2": faiss.METRIC_L2}[metric]
    dim = vectors.shape[1]
    index = faiss.IndexFlat(dim, faiss_metric) if kind == "exact" else faiss.IndexHNSWFlat(dim, HNSW_NEIGHBORS,
                                                                                            faiss_metric)
    index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    if backend == "gpu" and kind == "exact":
        index = _to_gpu(index)
    return index


def index_backend(index) -> str:  # noqa: ANN001 - faiss.Index
    """``"gpu"`` for an index that lives on a GPU, else ``"cpu"``."""
    return "gpu" if type(index).__name__.startswith("Gpu") else "cpu"


class TopK:
    """Top-k answers of ``(entity, relation)`` queries for one loaded model.

    Args:
        model: the model in eval mode (its decoder scores every returned answer).
        entities: its entity vectors ``[E, dim]`` (``model.entity_vectors()``), on the
            model's device.
        index: ``"exact"`` or ``"hnsw"`` (see the module docstring).
    """

    def __init__(self, model: KGModel, entities: Tensor, *, index: str = "exact") -> None:
        self.model, self.entities, self.kind = model, entities, index
        self.form = QUERY_FORMS.get(type(model.decoder))
        self.index = None
        if self.form is not None:
            vectors = entities.detach().float().cpu().numpy()
            self.index = build_index(vectors, metric=self.form.metric(model.decoder), kind=index,
                                     backend=faiss_backend())

    @property
    def backend(self) -> str | None:
        """Where FAISS searches: ``"gpu"`` or ``"cpu"`` (None: brute force, no FAISS index)."""
        return None if self.index is None else index_backend(self.index)

    @property
    def method(self) -> str:
        """What answers queries: ``faiss-exact``, ``faiss-hnsw`` or ``brute-force``."""
        return "brute-force" if self.index is None else f"faiss-{self.kind}"

    @property
    def description(self) -> str:
        """:attr:`method` and where it runs, for the sidecar's start line: ``faiss-exact on the GPU``."""
        return self.method if self.index is None else f"{self.method} on the {self.backend.upper()}"

    @torch.no_grad()
    def search(self, entity: Tensor, relation: Tensor, k: int,
               exclude: Sequence[np.ndarray] | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """``(answer ids, scores)`` per query, best first: at most ``k``, fewer only when
        fewer entities remain after ``exclude`` (per-query ids that may not be answers).

        ``entity`` and ``relation`` are ``[B]`` ids; relation ids as in
        ``KGModel.score_candidates``. Scores are the decoder's own.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        num = len(entity)
        if num == 0:
            return []
        excluded = list(exclude) if exclude is not None else [np.empty(0, dtype=np.int64)] * num
        fetch = min(self.model.num_entities, k + max(len(e) for e in excluded))
        if self.index is not None and self.kind == "exact" and self.form.metric(self.model.decoder) == "ip":
            distances, ids = self._search(entity, relation, fetch)  # exact inner products: the scores
            return [_best(row_ids, values, drop, k) for row_ids, values, drop in zip(ids, distances, excluded,
                                                                                       strict=True)]
        chunk = max(1, RESCORE_BUDGET // (fetch * self.entities.size(1)))
        results: list[tuple[np.ndarray, np.ndarray]] = []
        for start in range(0, num, chunk):
            rows = slice(start, start + chunk)
            e = entity[rows].to(self.entities.device)
            r = relation[rows].to(self.entities.device)
            candidates = self._candidates(e, r, fetch)
            scores = self._pair_scores(e, r, candidates).masked_fill(candidates < 0, -torch.inf)
            order = torch.sort(scores, dim=1, descending=True, stable=True).indices
            candidates = candidates.gather(1, order).cpu().numpy()
            scores = scores.gather(1, order).float().cpu().numpy()
            results.extend(_best(ids, values, drop, k)
                           for ids, values, drop in zip(candidates, scores, excluded[rows], strict=True))
        return results

    def _candidates(self, entity: Tensor, relation: Tensor, fetch: int) -> Tensor:
        """``[B, fetch]`` candidate ids (``-1`` where an approximate index found fewer)."""
        if self.index is None:
            scores = self.model.score_candidates(self.entities[entity], relation, self.entities)
            return scores.topk(fetch, dim=1).indices
        _, ids = self._search(entity, relation, fetch)
        return torch.as_tensor(ids, dtype=torch.long, device=self.entities.device)

    def _search(self, entity: Tensor, relation: Tensor, fetch: int) -> tuple[np.ndarray, np.ndarray]:
        """FAISS ``(distances, ids)`` ``[B, fetch]`` of the queries' search vectors, best first."""
        import faiss

        entity, relation = entity.to(self.entities.device), relation.to(self.entities.device)
        query, decoder, num_relations = self.entities[entity], self.model.decoder, self.model.num_relations
        if self.model.reciprocal:
            vectors = self.form.vector(decoder, query, relation, False)
        else:
            head = relation >= num_relations
            vectors = torch.empty_like(query)
            vectors[~head] = self.form.vector(decoder, query[~head], relation[~head], False)
            vectors[head] = self.form.vector(decoder, query[head], relation[head] - num_relations, True)
        params = None
        if self.kind == "hnsw":  # only on the CPU: HNSW has no GPU form
            params = faiss.SearchParametersHNSW(efSearch=max(HNSW_MIN_EF_SEARCH, 2 * fetch))
        return self.index.search(np.ascontiguousarray(vectors.float().cpu().numpy()), fetch, params=params)

    def _pair_scores(self, entity: Tensor, relation: Tensor, candidates: Tensor) -> Tensor:
        """``[B, C]`` decoder scores of each query with each of its candidates."""
        num, width = candidates.shape
        query = self.entities[entity].repeat_interleave(width, dim=0)
        answer = self.entities[candidates.clamp(min=0).reshape(-1)]
        rel = relation.repeat_interleave(width)
        decoder, num_relations = self.model.decoder, self.model.num_relations
        if self.model.reciprocal:
            return decoder.score(query, rel, answer).reshape(num, width)
        head = rel >= num_relations
        out = torch.empty(num * width, device=query.device, dtype=answer.dtype)
        out[~head] = decoder.score(query[~head], rel[~head], answer[~head]).to(out.dtype)
        out[head] = decoder.score(answer[head], rel[head] - num_relations, query[head]).to(out.dtype)
        return out.reshape(num, width)


def _best(ids: np.ndarray, scores: np.ndarray, exclude: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``k`` of sorted candidates, without padding (``-1``) and ``exclude`` ids."""
    keep = (ids >= 0) & ~np.isin(ids, exclude)
    return ids[keep][:k], scores[keep][:k]
