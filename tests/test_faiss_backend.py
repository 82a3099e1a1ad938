"""Where the sidecar's FAISS index lives: the GPU with the faiss-gpu build and CUDA, else the CPU.

The /health field and the start line are checked against a real `kgstore serve` in
tests/test_sidecar.py (test_health_and_startup_line); the GPU path runs in
bench/gpu_check.py --faiss on a GPU machine.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.extras import require

faiss = require("faiss", reason="pip install 'kgstore[train]'")

from trainer.sidecar.topk import FAISS_BACKEND_ENV, build_index, faiss_backend, index_backend  # noqa: E402

HAS_GPU = hasattr(faiss, "StandardGpuResources") and faiss.get_num_gpus() > 0


def test_backend_is_the_cpu_without_a_gpu_build_or_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAISS_BACKEND_ENV, raising=False)
    assert faiss_backend() == ("gpu" if HAS_GPU else "cpu")
    monkeypatch.setenv(FAISS_BACKEND_ENV, "cpu")
    assert faiss_backend() == "cpu"


def test_asking_for_the_gpu_without_one_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    if HAS_GPU:
        pytest.skip(reason="this machine has a GPU FAISS build and a CUDA device: the missing-GPU error cannot happen")
    monkeypatch.setenv(FAISS_BACKEND_ENV, "gpu")
    with pytest.raises(RuntimeError, match="faiss-gpu|no CUDA device"):
        faiss_backend()
    monkeypatch.setenv(FAISS_BACKEND_ENV, "tpu")
    with pytest.raises(ValueError, match="use one of cpu, gpu"):
        faiss_backend()


def test_cpu_index_answers_and_reports_its_backend() -> None:
    vectors = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    index = build_index(vectors, metric="ip", kind="exact", backend="cpu")
    assert index_backend(index) == "cpu"
    _, ids = index.search(vectors[:3], 1)
    assert ids.shape == (3, 1)
    hnsw = build_index(vectors, metric="l2", kind="hnsw", backend="gpu")  # HNSW has no GPU form: stays on the CPU
    assert index_backend(hnsw) == "cpu"
