"""The decoder sidecar: an HTTP service that scores links and predicts missing ones.

``kgstore serve`` runs it; the ``kgstore.*`` procedures in Neo4j call it. Modules:

* :mod:`~trainer.sidecar.model_store`: the checkpoint in memory, reloaded when ``latest`` moves;
* :mod:`~trainer.sidecar.topk`: top-k answers with FAISS, equal to the model's 1-N ranking;
* :mod:`~trainer.sidecar.known`: known facts, for ``filter_known``;
* :mod:`~trainer.sidecar.schemas`: request and response bodies;
* :mod:`~trainer.sidecar.app`: the FastAPI app;
* :mod:`~trainer.sidecar.run`: uvicorn in the foreground.
"""
