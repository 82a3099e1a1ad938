"""Run the sidecar in the foreground with uvicorn (what ``kgstore serve`` calls)."""

from __future__ import annotations

import json
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


WORKER_SPEC_ENV = "KGSTORE_SIDECAR_WORKER_SPEC"


def serve(store: ModelStore, *, host: str, port: int, token: str | None = None, max_k: int = 1000,
          max_batch: int = 10000, workers: int = 1, echo: Callable[[str], None] = print) -> None:
    """Serve ``store`` on ``host:port`` until interrupted (Ctrl-C or SIGTERM).

    With ``workers > 1`` uvicorn runs that many processes on the one port (its own
    supervisor); each builds the same store from :data:`WORKER_SPEC_ENV` and loads the
    model itself. Python serves one request at a time per process, so workers are how the
    sidecar uses more than one core.
    """
    import uvicorn

    from trainer.sidecar.app import create_app

    sidecar_log = logging.getLogger("kgstore.sidecar")
    if not sidecar_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     kgstore sidecar: %(message)s"))
        sidecar_log.addHandler(handler)
        sidecar_log.setLevel(logging.INFO)
    echo(describe(store, f"http://{host}:{port}") + (f" [{workers} workers]" if workers > 1 else ""))
    if workers > 1:
        os.environ[WORKER_SPEC_ENV] = json.dumps({**store.spec(), "max_k": max_k, "max_batch": max_batch})
        if token:
            os.environ["KGSTORE_SIDECAR_TOKEN"] = token  # inherited by the workers, never on a command line
        uvicorn.run("trainer.sidecar.run:worker_app", factory=True, workers=workers, host=host, port=port,
                    log_level="info", access_log=False)
        return
    app = create_app(store, token=token, max_k=max_k, max_batch=max_batch)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def worker_app():  # noqa: ANN201 - FastAPI
    """The app of one ``--workers`` process (a uvicorn factory): the parent's store, rebuilt here."""
    from trainer.sidecar.app import create_app

    spec = json.loads(os.environ[WORKER_SPEC_ENV])
    set_threads()
    limits = {"max_k": spec.pop("max_k"), "max_batch": spec.pop("max_batch")}
    return create_app(ModelStore.from_spec(spec), token=os.environ.get("KGSTORE_SIDECAR_TOKEN") or None, **limits)
