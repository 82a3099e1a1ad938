"""The facts a model was trained on, so ``filter_known`` can drop answers that are not new.

Checkpoints hold every triple of the snapshot (train, valid and test); older ones only
the training split, and then only training facts are filtered (:attr:`KnownFacts.complete`
says which; :meth:`trainer.checkpoint.Checkpoint.read_known` reads either).
"""

from __future__ import annotations

import numpy as np
import torch

from trainer.checkpoint import Checkpoint
from trainer.targets import QueryIndex


class KnownFacts:
    """Known answers of ``(entity, relation)`` queries; relation ``r + R`` asks for heads.

    Args:
        triples: ``[N, 3]`` id triples ``(head, relation, tail)``.
        num_relations: ``R``.
        complete: whether ``triples`` are all splits (False: the training split only).
    """

    def __init__(self, triples: np.ndarray, *, num_relations: int, complete: bool) -> None:
        self.index = QueryIndex(triples, num_relations=num_relations, both_directions=True)
        self.complete = complete

    @classmethod
    def load(cls, checkpoint: Checkpoint, *, num_relations: int) -> KnownFacts:
        """The known facts a checkpoint kept (all splits, or the training split of an older one)."""
        triples, complete = checkpoint.read_known()
        return cls(triples, num_relations=num_relations, complete=complete)

    def answers(self, entity: np.ndarray, relation: np.ndarray) -> list[np.ndarray]:
        """The known answer ids of each query (``[B]`` ids each), in query order."""
        positions = self.index.positions(torch.as_tensor(entity), torch.as_tensor(relation)).numpy()
        indptr, answers = self.index.indptr.numpy(), self.index.answers.numpy()
        empty = np.empty(0, dtype=np.int64)
        return [answers[indptr[p]:indptr[p + 1]] if p >= 0 else empty for p in positions]
