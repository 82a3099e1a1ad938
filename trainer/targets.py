"""``QueryIndex``: for each query ``(entity, relation)`` the set of answer entities, as CSR.

Used for 1-N training targets (all true tails of ``(h, r)``) and for the filter in
evaluation (all known true answers). Head queries are stored as tail queries of the
inverse relation ``r + R``: ``(t, r + R) -> h``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor


class QueryIndex:
    """Sorted query keys ``entity * num_query_relations + relation`` with CSR answer lists.

    Args:
        triples: ``[N, 3]`` id triples (h, r, t).
        num_relations: ``R``.
        both_directions: also index ``(t, r + R) -> h``.
    """

    def __init__(self, triples: np.ndarray, *, num_relations: int, both_directions: bool = True) -> None:
        triples = np.asarray(triples, dtype=np.int64).reshape(-1, 3)
        self.num_relations = num_relations
        self.width = 2 * num_relations  # key space per entity, always room for inverses
        h, r, t = triples[:, 0], triples[:, 1], triples[:, 2]
        query_e, query_r, answer = [h], [r], [t]
        if both_directions:
            query_e.append(t)
            query_r.append(r + num_relations)
            answer.append(h)
        keys = np.concatenate(query_e) * self.width + np.concatenate(query_r)
        answers = np.concatenate(answer)
        pairs = np.unique(np.stack([keys, answers], axis=1), axis=0)  # sorted by key, then answer; deduplicated
        self.keys, starts = np.unique(pairs[:, 0], return_index=True)
        self.indptr = torch.as_tensor(np.append(starts, len(pairs)), dtype=torch.long)
        self.answers = torch.as_tensor(pairs[:, 1], dtype=torch.long)

    def __len__(self) -> int:
        return len(self.keys)

    def queries(self) -> tuple[Tensor, Tensor]:
        """All indexed queries as ``(entity [Q], relation [Q])``."""
        keys = torch.as_tensor(self.keys)
        return keys // self.width, keys % self.width

    def positions(self, entity: Tensor, relation: Tensor) -> Tensor:
        """Row positions of queries (``-1`` where a query has no answers)."""
        keys = (entity.cpu() * self.width + relation.cpu()).numpy()
        pos = np.searchsorted(self.keys, keys)
        pos = np.minimum(pos, len(self.keys) - 1)
        found = self.keys[pos] == keys
        return torch.as_tensor(np.where(found, pos, -1), dtype=torch.long)

    def answers_of_rows(self, rows: Tensor, *, limit: int | None = None) -> tuple[Tensor, Tensor]:
        """``(batch position, answer entity)`` pairs for query rows (``-1`` rows give none).

        ``limit`` keeps at most that many answers of each query, drawn at random (torch's
        generator) without repeats: sampled 1-N training scores a batch against its answers,
        and one hub query of a power-law graph can have hundreds of thousands of them.
        """
        rows = rows.cpu()
        valid = rows >= 0
        safe = rows.clamp(min=0)
        counts = torch.where(valid, self.indptr[safe + 1] - self.indptr[safe], 0)
        kept = counts if limit is None else counts.clamp(max=limit)
        batch = torch.repeat_interleave(torch.arange(len(rows)), kept)
        offsets = torch.arange(int(kept.sum())) - torch.repeat_interleave(kept.cumsum(0) - kept, kept)
        if limit is not None and bool((counts > limit).any()):
            capped = counts[batch] > limit
            # `limit` answers a random stride apart from a random start, around the query's list: distinct
            # (the stride is coprime with the length), every answer equally likely, no draw per answer
            start = (torch.rand(len(rows)) * counts).long()
            stride = _coprime_strides(counts)
            offsets = torch.where(capped, (start[batch] + offsets * stride[batch]) % counts[batch].clamp(min=1),
                                  offsets)
        return batch, self.answers[self.indptr[safe][batch] + offsets]

    def answers_of(self, entity: Tensor, relation: Tensor) -> tuple[Tensor, Tensor]:
        """``(batch position, answer entity)`` pairs of the queries ``(entity_b, relation_b)``."""
        return self.answers_of_rows(self.positions(entity, relation))


def _coprime_strides(counts: Tensor) -> Tensor:
    """A random stride per count that is coprime with it (1 for counts under 3): stepping by it
    from any start visits distinct positions of a list of that length."""
    stride = (torch.rand(len(counts)) * counts.clamp(min=1)).long().clamp(min=1)
    for _ in range(64):  # phi(n)/n of the numbers below n are coprime with n: a few tries suffice
        bad = torch.gcd(stride, counts.clamp(min=1)) != 1
        if not bool(bad.any()):
            return stride
        stride = torch.where(bad, (torch.rand(len(counts)) * counts.clamp(min=1)).long().clamp(min=1), stride)
    return torch.where(torch.gcd(stride, counts.clamp(min=1)) != 1, torch.ones_like(stride), stride)
