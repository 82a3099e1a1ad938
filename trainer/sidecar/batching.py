"""Dynamic batching: the /predict queries of concurrent requests answered by one search.

Under load the sidecar's event loop finds several requests ready at once (the procedures
of eight Bolt clients, say). Answered one by one, each pays the fixed costs of a search:
a FAISS call, a dozen small torch operations, the rescoring. :class:`PredictBatcher`
queues the queries of every request handled in the same turn of the loop and runs them
as one :meth:`LoadedModel.predict` call scheduled right after that turn, then hands each
request its own rows. On FB15k-237 (dim 200, one core) a batch of four costs about a
third of four single searches per query. A lone request waits for nothing: the search
runs in the same loop turn's tail, it only gains company when company is there.

Queries are grouped by model (a reload may be in progress), ``k`` and ``filter_known``;
each group is one search. An error in a search fails the requests of that group only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import numpy as np

from trainer.sidecar.model_store import LoadedModel

Answers = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class _Waiting:
    loaded: LoadedModel
    entities: np.ndarray
    relations: np.ndarray
    k: int
    filter_known: bool
    future: asyncio.Future[Answers]


class PredictBatcher:
    """Answers ``predict`` calls made in the same event-loop turn with one search per group."""

    def __init__(self) -> None:
        self._waiting: list[_Waiting] = []
        self.searches = 0  # how many searches ran (a test and the curious can compare with requests)

    async def predict(self, loaded: LoadedModel, entities: np.ndarray, relations: np.ndarray, *, k: int,
                      filter_known: bool) -> Answers:
        """``loaded.predict(entities, relations, k=k, filter_known=filter_known)``, batched."""
        loop = asyncio.get_running_loop()
        if not self._waiting:
            loop.call_soon(self._run)
        future: asyncio.Future[Answers] = loop.create_future()
        self._waiting.append(_Waiting(loaded, entities, relations, k, filter_known, future))
        return await future

    def _run(self) -> None:
        waiting, self._waiting = self._waiting, []
        groups: dict[tuple[int, int, bool], list[_Waiting]] = {}
        for item in waiting:
            groups.setdefault((id(item.loaded), item.k, item.filter_known), []).append(item)
        for (_, k, filter_known), items in groups.items():
            self.searches += 1
            try:
                answers = items[0].loaded.predict(np.concatenate([i.entities for i in items]),
                                                  np.concatenate([i.relations for i in items]),
                                                  k=k, filter_known=filter_known)
            except Exception as exc:  # noqa: BLE001 - each request of the group gets the error
                for item in items:
                    if not item.future.done():
                        item.future.set_exception(exc)
                continue
            start = 0
            for item in items:
                if not item.future.done():  # a client that went away cancelled its request
                    item.future.set_result(answers[start:start + len(item.entities)])
                start += len(item.entities)
