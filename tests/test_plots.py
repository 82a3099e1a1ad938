"""Training curves: every checkpoint gets curves.png, drawn from what its metrics.json says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.extras import require

require("torch", reason="training needs the `train` extra")
require("matplotlib", reason="the curves need matplotlib (the `train` extra)")

from PIL import Image  # noqa: E402

from trainer.checkpoint import Checkpoint  # noqa: E402
from trainer.config import TrainConfig  # noqa: E402
from trainer.plots import save_training_curves  # noqa: E402
from trainer.snapshot import Snapshot  # noqa: E402
from trainer.train import train  # noqa: E402

PANEL_WIDTH_PX = 420  # trainer.plots: 4.2 inches per panel at 100 dpi


def nations() -> Snapshot:
    from kgstore.importers.registry import open_dataset

    splits: dict[str, list[tuple[str, str, str]]] = {"train": [], "valid": [], "test": []}
    for record in open_dataset("nations").triples():
        splits[record.split].append((record.head, record.relation, record.tail))
    return Snapshot.from_labeled(splits)


def test_a_tiny_training_run_writes_curves_png_from_its_metrics(tmp_path: Path) -> None:
    config = TrainConfig(dim=16, epochs=3, batch_size=128, eval_every=1, num_threads=1, seed=0)
    train(nations(), config, checkpoint_dir=tmp_path, progress=False)
    checkpoint = Checkpoint(tmp_path)
    assert checkpoint.curves_path == tmp_path / "curves.png"
    with Image.open(checkpoint.curves_path) as image:
        assert image.format == "PNG"
        # Two panels (loss, validation MRR): not multimodal, so no alignment panel.
        assert image.size == (2 * PANEL_WIDTH_PX, 320)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2, 3]
    assert all("align_loss" not in row for row in metrics["epochs"])
    assert (tmp_path / "loss.png").is_file() and (tmp_path / "mrr.png").is_file()


def test_curves_have_an_alignment_panel_only_when_the_history_has_alignment_loss(tmp_path: Path) -> None:
    epochs = [{"epoch": e, "loss": 1.0 / e, "seconds": 0.1} for e in range(1, 6)]
    validation = [{"epoch": 5, "mrr": 0.4}]
    plain = save_training_curves({"epochs": epochs, "validation": validation}, tmp_path / "plain.png")
    aligned = save_training_curves({"epochs": [{**row, "align_loss": 0.5 / row["epoch"]} for row in epochs],
                                    "validation": validation, "best_epoch": 5}, tmp_path / "aligned.png")
    no_valid = save_training_curves({"epochs": epochs, "validation": []}, tmp_path / "no_valid.png")
    widths = [Image.open(path).size[0] for path in (no_valid, plain, aligned)]
    assert widths == [PANEL_WIDTH_PX, 2 * PANEL_WIDTH_PX, 3 * PANEL_WIDTH_PX]


def test_no_epoch_is_an_error_that_says_so(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no training epoch"):
        save_training_curves({"epochs": [], "validation": []}, tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()


def test_a_multimodal_run_keeps_its_alignment_loss_and_draws_it(data_dir: Path, tmp_path: Path) -> None:
    from tests.test_multimodal import movielens_subset

    snapshot = movielens_subset(data_dir, 40)
    snapshot.path = tmp_path  # the text and poster features are encoded into tmp_path/features
    config = TrainConfig(dim=16, epochs=3, eval_every=1, num_threads=1, loss="1-n", modalities=["text", "image"],
                         align_weight=0.5, seed=0)
    train(snapshot, config, checkpoint_dir=tmp_path / "ckpt", progress=False)
    epochs = json.loads((tmp_path / "ckpt" / "metrics.json").read_text())["epochs"]
    assert [row["epoch"] for row in epochs] == [1, 2, 3]
    # The weighted alignment loss is part of the total loss, so it is positive and below it.
    assert all(0 < row["align_loss"] < row["loss"] for row in epochs), epochs
    with Image.open(Checkpoint(tmp_path / "ckpt").curves_path) as image:
        assert image.size == (3 * PANEL_WIDTH_PX, 320)  # loss, validation MRR, alignment loss
