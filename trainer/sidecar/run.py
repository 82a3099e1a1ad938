"""Run the sidecar in the foreground with uvicorn (what ``kgstore serve`` calls)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from trainer.sidecar.model_store import ModelStore, NoModel
from trainer.train import THREADS_ENV


def set_threads() -> int:
    """One torch and FAISS thread per request unless ``$KGSTORE_NUM_THREADS`` says otherwise.

    A request's work is small (one FAISS search and a rescoring of ~k candidates, about
    1.5 ms for FB15k-237 at dim 200); parallelism comes from concurrent requests, and
    OpenMP teams inside each of them only oversubscribe the cores and spin.
    """
    import faiss
    import torch

    threads = int(os.environ.get(THREADS_ENV, 0)) or 1
    torch.set_num_threads(threads)
    faiss.omp_set_num_threads(threads)
    return threads


def describe(store: ModelStore, url: str) -> str:
    """One line: where the sidecar listens and what it serves."""
    try:
        loaded = store.current()
    except NoModel as exc:
        return f"kgstore sidecar at {url}: {exc}"
    return (f"kgstore sidecar at {url}: model {loaded.name!r} version {loaded.version} ({loaded.decoder}, "
            f"dim {loaded.dim}, {len(loaded.entity_keys):,} entities, {loaded.num_relations:,} relations, "
            f"{loaded.topk.method}; API docs at {url}/docs)")


def serve(store: ModelStore, *, host: str, port: int, token: str | None = None, max_k: int = 1000,
          max_batch: int = 10000, echo: Callable[[str], None] = print) -> None:
    """Serve ``store`` on ``host:port`` until interrupted (Ctrl-C or SIGTERM)."""
    import uvicorn

    from trainer.sidecar.app import create_app

    app = create_app(store, token=token, max_k=max_k, max_batch=max_batch)
    sidecar_log = logging.getLogger("kgstore.sidecar")
    if not sidecar_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     kgstore sidecar: %(message)s"))
        sidecar_log.addHandler(handler)
        sidecar_log.setLevel(logging.INFO)
    echo(describe(store, f"http://{host}:{port}"))
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
