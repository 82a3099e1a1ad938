"""Run the sidecar in the foreground with uvicorn: :func:`serve_model` is what ``kgstore serve`` calls.

This module imports neither torch nor FastAPI at import time, so a missing extra is a
:class:`~kgstore.errors.KgstoreError` with the ``pip install`` hint, not an ImportError.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kgstore.errors import KgstoreError
from kgstore.home import LATEST, KgstoreHome
from trainer.threads import set_threads

if TYPE_CHECKING:
    from trainer.sidecar.generators import GeneratorStore
    from trainer.sidecar.model_store import ModelStore

SERVE_HINT = "the sidecar needs the `train` and `serve` extras: pip install 'kgstore[train,serve]'"
SERVE_PACKAGES = ("torch", "torch_geometric", "faiss", "fastapi", "uvicorn")
WORKER_SPEC_ENV = "KGSTORE_SIDECAR_WORKER_SPEC"
TOKEN_ENV = "KGSTORE_SIDECAR_TOKEN"
SIDECAR_THREADS = 1
"""torch and FAISS threads per sidecar process unless ``$KGSTORE_NUM_THREADS`` says otherwise: a
request's work is small (one FAISS search and a rescoring of ~k candidates, about 1.5 ms for
FB15k-237 at dim 200), parallelism comes from concurrent requests (and ``workers``), and
OpenMP teams inside each request only oversubscribe the cores and spin."""


def serve_model(home: KgstoreHome, *, model: str = "default", checkpoint: Path | None = None,
                host: str = "127.0.0.1", port: int, token: str | None = None, index: str = "exact",
                max_k: int = 1000, max_batch: int = 10000, device: str = "cpu", workers: int = 1,
                echo: Callable[[str], None] = print) -> None:
    """Serve ``model`` of ``home`` on ``host:port`` until interrupted: what ``kgstore serve`` runs.

    The sidecar follows the model's ``latest`` link (a newer ``kgstore train`` is picked up
    by itself), or serves the folder ``checkpoint`` when given (never reloaded). A missing
    extra, a model without a checkpoint and a checkpoint that cannot be loaded are
    :class:`~kgstore.errors.KgstoreError` with what to do.
    """
    for package in SERVE_PACKAGES:
        try:
            importlib.import_module(package)
        except ImportError as exc:
            raise KgstoreError(f"{exc.name or package} is not installed", hint=SERVE_HINT) from exc
    if checkpoint is None and home.latest_checkpoint(model) is None:
        raise KgstoreError(f"model {model!r} has no checkpoint in {home.model_dir(model)}",
                           hint=f"Train one first: kgstore train --model {model} (or pass --checkpoint FOLDER).")
    from trainer.sidecar.model_store import ModelStore

    set_threads(default=SIDECAR_THREADS)  # faiss is imported above: its threads are set too
    from trainer.generators.image_jobs import IMAGE
    from trainer.generators.jobs import TEXT
    from trainer.sidecar.generators import GeneratorStore

    try:
        store = ModelStore(name=model, link=None if checkpoint else home.latest_link(model), checkpoint=checkpoint,
                           index=index, device=device)
    except (FileNotFoundError, ValueError) as exc:
        raise KgstoreError(f"cannot serve model {model!r}: {exc}") from exc
    texts = GeneratorStore(kind=TEXT, model=model, link=home.generators_dir(model, TEXT) / LATEST, device=device)
    images = GeneratorStore(kind=IMAGE, model=model, link=home.generators_dir(model, IMAGE) / LATEST, device=device,
                            image_store=home.images_dir)
    serve(store, host=host, port=port, token=token, max_k=max_k, max_batch=max_batch, workers=workers, echo=echo,
          texts=texts, images=images)


def describe(store: ModelStore, url: str) -> str:
    """One line: where the sidecar listens and what it serves."""
    from trainer.sidecar.model_store import NoModel

    try:
        loaded = store.current()
    except NoModel as exc:
        return f"kgstore sidecar at {url}: {exc}"
    return (f"kgstore sidecar at {url}: model {loaded.name!r} version {loaded.version} ({loaded.decoder}, "
            f"dim {loaded.dim}, {len(loaded.entity_keys):,} entities, {loaded.num_relations:,} relations, "
            f"{loaded.topk.description}; API docs at {url}/docs)")


def serve(store: ModelStore, *, host: str, port: int, token: str | None = None, max_k: int = 1000,
          max_batch: int = 10000, workers: int = 1, echo: Callable[[str], None] = print,
          texts: GeneratorStore | None = None, images: GeneratorStore | None = None) -> None:
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
        os.environ[WORKER_SPEC_ENV] = json.dumps({**store.spec(), "max_k": max_k, "max_batch": max_batch,
                                                  "texts": None if texts is None else texts.spec(),
                                                  "images": None if images is None else images.spec()})
        if token:
            os.environ[TOKEN_ENV] = token  # inherited by the workers, never on a command line
        uvicorn.run("trainer.sidecar.run:worker_app", factory=True, workers=workers, host=host, port=port,
                    log_level="info", access_log=False)
        return
    app = create_app(store, token=token, max_k=max_k, max_batch=max_batch, texts=texts, images=images)
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def worker_app():  # noqa: ANN201 - FastAPI
    """The app of one ``--workers`` process (a uvicorn factory): the parent's store, rebuilt here."""
    import faiss  # noqa: F401 - before set_threads, which then sets FAISS's threads too

    from trainer.sidecar.app import create_app
    from trainer.sidecar.generators import GeneratorStore
    from trainer.sidecar.model_store import ModelStore

    spec = json.loads(os.environ[WORKER_SPEC_ENV])
    set_threads(default=SIDECAR_THREADS)
    limits = {"max_k": spec.pop("max_k"), "max_batch": spec.pop("max_batch")}
    texts, images = spec.pop("texts", None), spec.pop("images", None)
    return create_app(ModelStore.from_spec(spec), token=os.environ.get(TOKEN_ENV) or None, **limits,
                      texts=None if texts is None else GeneratorStore(**texts),
                      images=None if images is None else GeneratorStore(**images))
