"""The tunnel over training: a tap × epoch heatmap of ID accuracy and % retained per OOD set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tunnellab.analysis.curves import save_figure
from tunnellab.metrics.tunnel import id_saturation_start, ood_retained, tunnel_start

__all__ = ["plot_dynamics", "tunnel_by_epoch"]


def _curve(rows: pd.DataFrame) -> list[float]:
    return rows.sort_values("tap_index")["acc"].tolist()


def tunnel_by_epoch(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (epoch, OOD dataset) of a ``dynamics.csv`` table: % retained, the tunnel's
    start (OOD peak tap, or None) and where the ID curve saturates (Masarczyk's start)."""
    rows = []
    for epoch, at_epoch in table.groupby("epoch", sort=True):
        id_start = id_saturation_start(_curve(at_epoch[at_epoch["role"] == "id"]))
        for name, ood in at_epoch[at_epoch["role"] == "ood"].groupby("dataset", sort=False):
            curve = _curve(ood)
            rows.append(
                {
                    "epoch": int(epoch),
                    "dataset": name,
                    "retained": ood_retained(curve),
                    "tunnel_start": tunnel_start(curve),
                    "id_saturation_start": id_start,
                }
            )
    columns = ["epoch", "dataset", "retained", "tunnel_start", "id_saturation_start"]
    return pd.DataFrame(rows, columns=columns)


def plot_dynamics(table: pd.DataFrame, out_path: str | Path, title: str = "") -> list[Path]:
    """Write ``<out_path>.png`` / ``.pdf``: left, ID probe accuracy per tap (rows) and epoch
    (columns) with the ID saturation start marked; right, % OOD accuracy retained at the last tap
    per OOD set against the epoch. ``table`` has the columns of ``dynamics.csv``."""
    id_rows = table[table["role"] == "id"]
    grid = id_rows.pivot(index="tap_index", columns="epoch", values="acc").sort_index()
    epochs = [int(e) for e in grid.columns]
    names = id_rows.drop_duplicates("tap_index").set_index("tap_index")["tap_name"]
    summary = tunnel_by_epoch(table)

    fig = Figure(figsize=(11.5, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    heat, lines = fig.subplots(1, 2, width_ratios=[1.1, 1.0])
    image = heat.imshow(
        grid.to_numpy(), aspect="auto", origin="lower", cmap="viridis", vmin=0.0, vmax=1.0
    )
    fig.colorbar(image, ax=heat, label="ID probe accuracy")
    heat.set_xticks(range(len(epochs)), [str(e) for e in epochs])
    heat.set_yticks(range(len(grid.index)), [str(names[t]) for t in grid.index], fontsize=7)
    starts = summary.drop_duplicates("epoch").set_index("epoch")["id_saturation_start"]
    if len(starts):
        xs = [epochs.index(int(e)) for e in starts.index]
        heat.plot(xs, np.asarray(starts, dtype=float) - 1, "w^", markersize=7, linestyle="none")
    heat.set_xlabel("epoch")
    heat.set_ylabel("tap (layer)")
    heat.set_title("ID accuracy per tap (▲ ID saturation start)", fontsize=10)

    for name, rows in summary.groupby("dataset", sort=False):
        lines.plot(rows["epoch"], rows["retained"], marker="o", label=str(name))
    lines.axhline(100.0, color="#9e9e9e", linewidth=0.8, linestyle=":")
    lines.set_xticks(epochs)
    lines.set_ylim(0, 105)
    lines.set_xlabel("epoch")
    lines.set_ylabel("% OOD accuracy retained at the last tap")
    lines.set_title("The tunnel over training (100 = no tunnel)", fontsize=10)
    lines.grid(True, color="#d9d9d9", linewidth=0.7)
    if len(summary):
        lines.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, out_path)
