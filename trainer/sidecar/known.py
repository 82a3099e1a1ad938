"""The facts a model was trained on, so ``filter_known`` can drop answers that are not new.

Checkpoints hold ``known.npy`` (every triple of the snapshot: train, valid and test);
older ones only ``graph.npy`` (the training split), and then only training facts are
filtered (:attr:`KnownFacts.complete` says which).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainer.targets import QueryIndex

KNOWN_FILE = "known.npy"
TRAIN_FILE = "graph.npy"


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
    def load(cls, checkpoint: Path, *, num_relations: int) -> KnownFacts:
        """``known.npy`` of ``checkpoint``, else its ``graph.npy``."""
        if (checkpoint / KNOWN_FILE).is_file():
            return cls(np.load(checkpoint / KNOWN_FILE), num_relations=num_relations, complete=True)
        return cls(np.load(checkpoint / TRAIN_FILE), num_relations=num_relations, complete=False)

    def answers(self, entity: np.ndarray, relation: np.ndarray) -> list[np.ndarray]:
        """The known answer ids of each query (``[B]`` ids each), in query order."""
        positions = self.index.positions(torch.as_tensor(entity), torch.as_tensor(relation)).numpy()
        indptr, answers = self.index.indptr.numpy(), self.index.answers.numpy()
        empty = np.empty(0, dtype=np.int64)
        return [answers[indptr[p]:indptr[p + 1]] if p >= 0 else empty for p in positions]
