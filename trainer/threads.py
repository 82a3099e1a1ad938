"""CPU threads of torch (and FAISS): the one place that sets them.

Training wants every core (``TrainConfig.num_threads``, else ``$KGSTORE_NUM_THREADS``,
else the CPU count); the sidecar wants one thread per request (``$KGSTORE_NUM_THREADS``,
else 1): a request's work is small, parallelism comes from concurrent requests, and
OpenMP teams inside each of them only oversubscribe the cores and spin.
"""

from __future__ import annotations

import os
import sys

THREADS_ENV = "KGSTORE_NUM_THREADS"


def set_threads(threads: int | None = None, *, default: int | None = None) -> int:
    """Set torch's CPU threads, and FAISS's when FAISS is imported; return the number.

    The number is ``threads`` when given, else ``$KGSTORE_NUM_THREADS``, else ``default``,
    else the CPU count. Import ``faiss`` first where FAISS searches should follow it.
    """
    try:
        from_env = int(os.environ.get(THREADS_ENV) or 0)
    except ValueError as exc:
        raise ValueError(f"${THREADS_ENV} must be a whole number of threads, got "
                         f"{os.environ[THREADS_ENV]!r}") from exc
    count = threads or from_env or default or os.cpu_count() or 1
    if count < 1:
        raise ValueError(f"the number of threads must be at least 1, got {count}")
    import torch

    torch.set_num_threads(count)
    if "faiss" in sys.modules:
        sys.modules["faiss"].omp_set_num_threads(count)
    return count
