"""Layer-embedding pictures of one run (the paper's Figure 4): t-SNE of cached test features.

Columns are a few taps (the first, the one before the tunnel start, the tunnel start, the last),
rows the ID test set and one OOD test set; points are coloured by class. The features come from
the probe stage's cache, so the backbone does not run again. The same points (a seeded sample of
at most ``max_points`` per set) appear in every column of a row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from tunnellab.analysis.curves import save_figure
from tunnellab.atomic import atomic_write_text
from tunnellab.data.arrays import DatasetSplits
from tunnellab.metrics.embedding import sample_indices, tsne_embedding
from tunnellab.metrics.tunnel import id_saturation_start
from tunnellab.probe.features import SplitFeatures
from tunnellab.probe.stage import ProbeStage

__all__ = [
    "MAX_POINTS",
    "EmbeddingPanel",
    "embed_run",
    "embed_split",
    "embedding_taps",
    "pick_ood",
    "plot_embeddings",
    "write_embeddings",
]

#: Points per panel: t-SNE of 1,000 points takes ~1.5 s on one CPU core.
MAX_POINTS = 1000


@dataclass
class EmbeddingPanel:
    """One panel: a dataset's sampled test points embedded at one tap."""

    dataset: str
    role: str  # "id" or "ood"
    tap_index: int  # 1-based
    tap_name: str
    why: str  # "first", "before tunnel", "tunnel start", "last"
    coords: np.ndarray  # (N, 2)
    labels: np.ndarray  # (N,)
    samples: np.ndarray  # (N,) indices into the test split


def embedding_taps(n_taps: int, tunnel_start: int | None) -> list[tuple[int, str]]:
    """The 1-based taps to embed and why: first, before the tunnel start, at it, last.

    Without a tunnel start the first and last taps only; a tap that plays two parts keeps the
    first reason in that order.
    """
    if n_taps < 1:
        raise ValueError(f"n_taps must be at least 1, got {n_taps}")
    wanted: list[tuple[int, str]] = [(1, "first")]
    if tunnel_start is not None:
        if not 1 <= tunnel_start <= n_taps:
            raise ValueError(f"tunnel_start {tunnel_start} is not a tap in 1..{n_taps}")
        wanted += [(tunnel_start - 1, "before tunnel"), (tunnel_start, "tunnel start")]
    wanted.append((n_taps, "last"))
    taps: dict[int, str] = {}
    for tap, why in wanted:
        if tap >= 1:
            taps.setdefault(tap, why)
    return sorted(taps.items())


def pick_ood(probes: pd.DataFrame, metrics: pd.DataFrame, column: str) -> tuple[str | None, int]:
    """The OOD set to show (the lowest ``retained``: the strongest tunnel; the first on ties)
    and the tap where the tunnel starts for it. Where its OOD curve has no tunnel, or there is
    no OOD set, the ID curve's saturation tap stands in (95 % of its last accuracy)."""
    id_curve = probes[probes["role"] == "id"].sort_values("tap_index")[column].to_numpy()
    if metrics.empty:
        return None, id_saturation_start(id_curve)
    row = metrics.loc[metrics["retained"].idxmin()]
    start = row["tunnel_start"]
    if pd.isna(start):
        return str(row["dataset"]), id_saturation_start(id_curve)
    return str(row["dataset"]), int(start)


def embed_split(
    split: SplitFeatures,
    taps: Sequence[tuple[int, str]],
    tap_names: Sequence[str],
    dataset: str,
    role: str,
    seed: int,
    max_points: int = MAX_POINTS,
) -> list[EmbeddingPanel]:
    """One panel per tap of ``taps`` for the same seeded sample of ``split``."""
    idx = sample_indices(len(split.labels), max_points, seed)
    index = np.asarray(idx, dtype=np.int64)
    labels = split.labels.numpy()[index]
    panels = []
    for tap, why in taps:
        coords = tsne_embedding(split.features[tap - 1][index], seed)
        panels.append(
            EmbeddingPanel(dataset, role, tap, str(tap_names[tap - 1]), why, coords, labels, idx)
        )
    return panels


def _colours(n_classes: int) -> str:
    return "tab10" if n_classes <= 10 else "tab20" if n_classes <= 20 else "turbo"


def plot_embeddings(
    panels: Sequence[EmbeddingPanel], out_path: str | Path, title: str = ""
) -> list[Path]:
    """A grid (one row per dataset, one column per tap) as PNG and PDF; returns both paths."""
    rows = list(dict.fromkeys((p.dataset, p.role) for p in panels))
    cols = list(dict.fromkeys((p.tap_index, p.why) for p in panels))
    fig = Figure(figsize=(2.9 * len(cols), 2.9 * len(rows) + 0.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(rows), len(cols), squeeze=False)
    for p in panels:
        ax = axes[rows.index((p.dataset, p.role))][cols.index((p.tap_index, p.why))]
        n_classes = int(p.labels.max()) + 1 if p.labels.size else 1
        ax.scatter(
            p.coords[:, 0],
            p.coords[:, 1],
            c=p.labels,
            cmap=_colours(n_classes),
            vmin=0,
            vmax=max(n_classes - 1, 1),
            s=3,
            linewidths=0,
            rasterized=True,
        )
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"tap {p.tap_index} {p.tap_name}\n({p.why})", fontsize=8.5)
        if p.tap_index == cols[0][0]:
            ax.set_ylabel(f"{p.role.upper()}: {p.dataset}", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return save_figure(fig, out_path)


def write_embeddings(
    id_test: SplitFeatures,
    ood_test: tuple[str, SplitFeatures] | None,
    tap_names: Sequence[str],
    tunnel_start: int | None,
    out_dir: str | Path,
    seed: int,
    id_name: str = "id",
    title: str = "",
    max_points: int = MAX_POINTS,
) -> dict[str, Path]:
    """``embeddings.png`` / ``.pdf`` (the figure) and ``embeddings.csv`` (every point: dataset,
    role, tap, sample index, label, x, y) in ``out_dir``."""
    taps = embedding_taps(len(tap_names), tunnel_start)
    panels = embed_split(id_test, taps, tap_names, id_name, "id", seed, max_points)
    if ood_test is not None:
        name, split = ood_test
        panels += embed_split(split, taps, tap_names, name, "ood", seed, max_points)
    png, pdf = plot_embeddings(panels, Path(out_dir) / "embeddings", title)
    table = pd.concat([_points(p) for p in panels], ignore_index=True)
    csv = Path(out_dir) / "embeddings.csv"
    atomic_write_text(csv, table.to_csv(index=False, float_format="%.5g"))
    return {"embeddings_png": png, "embeddings_pdf": pdf, "embeddings_csv": csv}


def _points(p: EmbeddingPanel) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": p.dataset,
            "role": p.role,
            "tap_index": p.tap_index,
            "tap_name": p.tap_name,
            "why": p.why,
            "sample": p.samples,
            "label": p.labels,
            "x": p.coords[:, 0],
            "y": p.coords[:, 1],
        }
    )


def embed_run(
    stage: ProbeStage,
    id_data: DatasetSplits,
    ood_data: dict[str, DatasetSplits],
    dataset_keys: dict[str, object],
    probes: pd.DataFrame,
    metrics: pd.DataFrame,
    column: str,
    out_dir: str | Path,
    seed: int,
    title: str = "",
) -> dict[str, Path]:
    """:func:`write_embeddings` for a probed run: its test features from ``stage``'s cache
    (no backbone pass), the OOD set and tunnel start of :func:`pick_ood` (``column`` curves)."""
    ood_name, start = pick_ood(probes, metrics, column)
    id_test = stage.features(id_data, "test", dataset_keys.get(id_data.name, id_data.name))
    ood_test = None
    if ood_name is not None:
        splits = ood_data[ood_name]
        ood_test = (ood_name, stage.features(splits, "test", dataset_keys.get(ood_name, ood_name)))
    tap_names = [t.name for t in stage.taps]
    return write_embeddings(id_test, ood_test, tap_names, start, out_dir, seed, id_data.name, title)
