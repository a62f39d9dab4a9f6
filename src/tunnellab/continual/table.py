"""The continual table: ``continual.csv`` rows and the figure in the table's layout."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

CONTINUAL_CSV = "continual.csv"
TUNNEL_LAYERS = "tunnel_layers.json"
FIGURE = "continual.png"
COLUMNS = [
    "seed",
    "resolution",
    "combination",
    "task",
    "accuracy",
    "tunnel_choice",
    "tunnel_layers",
]
COMBINATIONS = ("E1+T1", "E1+T2", "E2+T2", "E2+T1", "E2+T1 fine-tuned", "E2 fine-tuned")


def layers_label(start: int, n_taps: int) -> str:
    """The tunnel's taps as the paper writes them (``14-17``)."""
    return f"{start}-{n_taps}"


def plot_continual(table: pd.DataFrame, path: Path, title: str) -> Path:
    """Task-1 and task-2 accuracy (%) per combination, one bar pair per row of the table."""
    rows = [c for c in COMBINATIONS if c in set(table["combination"])]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.38
    for offset, task in ((-width / 2, 1), (width / 2, 2)):
        values = []
        for combination in rows:
            cell = table[(table["combination"] == combination) & (table["task"] == task)]
            values.append(100 * cell["accuracy"].mean() if len(cell) else float("nan"))
        xs = [i + offset for i in range(len(rows))]
        bars = ax.bar(xs, values, width, label=f"task {task}")
        for bar, value in zip(bars, values, strict=True):
            if value == value:  # not NaN
                xy = (bar.get_x() + width / 2, value)
                ax.annotate(f"{value:.1f}", xy, ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(rows)), rows, rotation=15, fontsize=8)
    ax.set_ylabel("top-1 (%)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
