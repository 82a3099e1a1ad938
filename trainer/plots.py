"""Training curves as PNG files: what a checkpoint's ``metrics.json`` says, drawn.

:func:`save_training_curves` writes ``curves.png``, one figure with a panel per series:
training loss per epoch, validation filtered MRR per evaluated epoch (the best epoch,
whose weights the checkpoint keeps, marked) and, for a multimodal run, the alignment
loss per epoch. :func:`save_series` writes one series alone (``loss.png``, ``mrr.png``).
:class:`trainer.checkpoint.Checkpoint` decides the file names; this module only draws.

matplotlib is imported inside the functions, with the Agg backend: training runs on
machines without a display, and importing the trainer must not cost matplotlib's import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MARKERS_BELOW = 30  # fewer points than this get a marker each: a short run's few points stay visible


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display on training machines; the only backend kgstore uses
    import matplotlib.pyplot as plt

    return plt


def _panels(metrics: dict[str, Any]) -> list[tuple[str, list[int], list[float]]]:
    """``(title, epochs, values)`` of each series the metrics hold, in panel order."""
    epochs = metrics.get("epochs") or []
    validation = metrics.get("validation") or []
    panels = [("training loss", [row["epoch"] for row in epochs], [row["loss"] for row in epochs])]
    if validation:
        panels.append(("validation filtered MRR", [row["epoch"] for row in validation],
                       [row["mrr"] for row in validation]))
    aligned = [row for row in epochs if row.get("align_loss") is not None]
    if aligned:
        panels.append(("alignment loss (weighted)", [row["epoch"] for row in aligned],
                       [row["align_loss"] for row in aligned]))
    return panels


def save_training_curves(metrics: dict[str, Any], path: Path, *, title: str | None = None) -> Path:
    """Draw ``curves.png`` at ``path`` from a run's metrics (``epochs``, ``validation``).

    One panel per series, side by side, sharing the epoch axis; a run without a
    validation split has the loss panel only. Returns ``path``.

    Raises:
        ValueError: the metrics hold no epoch at all (nothing to draw).
    """
    panels = _panels(metrics)
    if not panels[0][1]:
        raise ValueError("the metrics hold no training epoch: there is no curve to draw")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.2), dpi=100, squeeze=False)
    for ax, (label, epochs, values) in zip(axes[0], panels, strict=True):
        ax.plot(epochs, values, marker="o" if len(epochs) < MARKERS_BELOW else None, markersize=3)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        if label.startswith("validation") and metrics.get("best_epoch") in epochs:
            best = metrics["best_epoch"]
            ax.axvline(best, color="grey", linestyle="--", linewidth=1)
            # At the foot of the line: the curve is near its top there.
            ax.text(best, 0.03, f"best: epoch {best} ", transform=ax.get_xaxis_transform(), fontsize=8,
                    ha="right", va="bottom")
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def save_series(rows: list[dict[str, Any]], key: str, label: str, path: Path) -> Path:
    """One series alone: ``rows[i][key]`` against ``rows[i]['epoch']``, saved at ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2), dpi=100)
    ax.plot([row["epoch"] for row in rows], [row[key] for row in rows],
            marker="o" if len(rows) < MARKERS_BELOW else None)
    ax.set_xlabel("epoch")
    ax.set_ylabel(label)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
