"""The figures of the bench scripts: grouped bars and latency histograms, saved as PNG.

Each script that prints a table also saves its main figure next to its other outputs
(``bench/out/``) with one of these two functions, so the figures look alike and the
scripts hold no plotting code beyond choosing what to draw:

- :func:`grouped_bars`: one group of bars per row label (a dataset, a task), one bar per
  series (a system and model, a variant), the value printed on each bar
  (``lp_bench.py``: MRR by dataset and system; ``multimodal_ablation.py``: MRR per task);
- :func:`latency_histogram`: one histogram per path on a log-scaled millisecond axis,
  with its p50 and p99 marked (``procedure_load.py``).

matplotlib (the ``train`` extra) is imported inside the functions, with the Agg backend:
the benches run on machines without a display.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def grouped_bars(groups: Sequence[str], series: Mapping[str, Sequence[float | None]], path: Path, *,
                 ylabel: str, title: str, value_format: str = "{:.3f}") -> Path:
    """Bars of ``series[name][i]`` in group ``groups[i]``; None (a run that did not happen) draws no bar.

    Returns ``path``. Raises ValueError when a series has not one value per group.
    """
    for name, values in series.items():
        if len(values) != len(groups):
            raise ValueError(f"series {name!r} has {len(values)} values for {len(groups)} groups")
    plt = _pyplot()
    width = 0.8 / max(len(series), 1)
    fig, ax = plt.subplots(figsize=(max(6.4, 2.0 + 0.45 * len(groups) * max(len(series), 1)), 4.2), dpi=100)
    for k, (name, values) in enumerate(series.items()):
        xs = [i - 0.4 + width * (k + 0.5) for i, value in enumerate(values) if value is not None]
        ys = [value for value in values if value is not None]
        bars = ax.bar(xs, ys, width=width * 0.95, label=name)
        ax.bar_label(bars, labels=[value_format.format(y) for y in ys], fontsize=7, padding=1, rotation=90)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    top = max((v for values in series.values() for v in values if v is not None), default=1.0)
    ax.set_ylim(0, top * 1.35 if top > 0 else 1.0)  # room for the values and the legend above the bars
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncols=min(len(series), 2), loc="upper left")
    return _save(fig, path)


def latency_histogram(latencies_ms: Mapping[str, Sequence[float]], path: Path, *, title: str) -> Path:
    """One histogram per path of its call latencies (ms, log-spaced bins), p50 and p99 as dashed lines.

    Returns ``path``. Raises ValueError when no path has a latency.
    """
    values = [v for per in latencies_ms.values() for v in per if v > 0]
    if not values:
        raise ValueError("no latency to draw: every path had zero successful calls")
    plt = _pyplot()
    low, high = math.log10(min(values)), math.log10(max(values))
    bins = [10 ** (low + (high - low) * i / 60) for i in range(61)] if high > low else 20
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for k, (name, per) in enumerate(latencies_ms.items()):
        if not per:
            continue
        colour = f"C{k}"
        ordered = sorted(per)
        p50, p99 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))]
        ax.hist(per, bins=bins, alpha=0.45, color=colour,
                label=f"{name}: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({len(per):,} calls)")
        ax.axvline(p50, color=colour, linestyle="--", linewidth=1)
        ax.axvline(p99, color=colour, linestyle=":", linewidth=1)
    ax.set_xscale("log")
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # 10, not 10^1
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("latency per call (ms, log scale); dashed: p50, dotted: p99")
    ax.set_ylabel("calls")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)
