"""DDP training through torch.distributed.run: 2 CPU processes (gloo) against 1, on UMLS.

Real processes, a real process group and a real torchrun launcher; no Neo4j server.
Small (dim 32, 20 epochs of plain embeddings): most of the time is the two ranks starting.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from tests.extras import require

torch = require("torch", reason="the trainer tests need the train extra: pip install kgstore[train]")

from tests.test_sampling import dataset  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.distributed import Distributed, launch, torchrun_command  # noqa: E402
from trainer.train import train  # noqa: E402


def test_two_gloo_processes_train_umls_like_one(tmp_path) -> None:
    snapshot = dataset("umls")
    config = TrainConfig(dim=32, epochs=20, eval_every=10, patience=0, batch_size=256, lr=1e-2, dropout=0.0,
                         seed=0, num_threads=1)
    one = train(snapshot, config, checkpoint_dir=tmp_path / "one", progress=False)
    two = launch(snapshot, config, checkpoint_dir=tmp_path / "two", progress=False, nproc=2)
    assert one.metrics["processes"] == 1 and two.metrics["processes"] == 2
    assert [row["epoch"] for row in two.metrics["validation"]] == [10, 20]  # rank 0 validated, as one process does
    assert one.test["mrr"] > 0.6  # both learned something (a random ranking of 135 entities: about 0.04)
    assert abs(two.test["mrr"] - one.test["mrr"]) < 0.01, (one.test["mrr"], two.test["mrr"])
    # rank 0 wrote the checkpoint, and the result was read back from it
    assert (tmp_path / "two" / "model.pt").is_file() and (tmp_path / "two" / "metrics.json").is_file()
    assert two.entity_vectors.shape == (snapshot.num_entities, 32)
    assert np.isfinite(two.entity_vectors).all()
    assert two.entity_keys == list(snapshot.entity_keys)
    assert snapshot.path is None  # the ranks read a temporary copy; the caller's snapshot is untouched


def test_a_failing_rank_is_an_error_naming_the_command(tmp_path) -> None:
    snapshot = dataset("nations")
    config = TrainConfig(dim=8, epochs=1, num_layers=1, num_threads=1, device="cpu")
    folder = dataclasses.replace(snapshot).save(tmp_path / "snap")
    (folder / "triples.npy").write_bytes(b"not a numpy file")  # every rank fails to load it
    with pytest.raises(RuntimeError, match="torch.distributed.run"):
        launch(dataclasses.replace(snapshot, path=folder), config, checkpoint_dir=tmp_path / "ckpt", progress=False,
               nproc=2)


def test_torchrun_command_and_outside_torchrun(monkeypatch, tmp_path) -> None:
    command = torchrun_command(nproc=3, snapshot_dir=tmp_path / "snap", config_file=tmp_path / "c.json",
                               checkpoint_dir=tmp_path / "ckpt", resume=True)
    assert command[1:5] == ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node=3"]
    assert command[5:7] == ["-m", "trainer.distributed"] and "--resume" in command
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="torchrun"):
        Distributed.init("cpu")
    assert os.environ.get("RANK") is None
