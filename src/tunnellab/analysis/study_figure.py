"""The study figure of a sweep: % OOD retained per OOD set and level, every seed shown."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps

from tunnellab.analysis.figures import _figure, _style, save_figure
from tunnellab.analysis.table import level_text

RETAINED_PREFIX = "retained/"


def level_label(values: Sequence[object], variables: Sequence[str]) -> str:
    """``resolution=64`` / ``model=vggm17, augmentation=rrc_flip`` (``all`` when none vary)."""
    if not variables:
        return "all runs"
    return ", ".join(f"{v}={level_text(x)}" for v, x in zip(variables, values, strict=True))


def plot_study_retained(
    runs: pd.DataFrame, variables: Sequence[str], out_path: str | Path, title: str = ""
) -> list[Path]:
    """Bars: mean % retained per level over its seeds (± 1 s.d.); dots: the single runs.

    ``runs`` is a study's run table (:func:`tunnellab.tracking.study.study_runs`), with
    ``retained/<dataset>`` columns and ``retained_mean``; one group of bars per OOD set + mean.
    """
    columns = [c for c in runs.columns if c.startswith(RETAINED_PREFIX)] + ["retained_mean"]
    names = [c.removeprefix(RETAINED_PREFIX) for c in columns[:-1]] + ["mean"]
    keys = list(variables)
    groups = list(runs.groupby(keys, sort=True, dropna=False)) if keys else [((), runs)]
    colours = colormaps["viridis"](np.linspace(0.15, 0.8, max(len(groups), 2)))
    width = 0.8 / len(groups)
    fig = _figure(max(6.5, 1.6 + 1.1 * len(columns) * max(1.0, len(groups) / 2)), 4.8)
    ax = fig.subplots()
    rng = np.random.default_rng(0)  # dot jitter only
    for g, (level, rows) in enumerate(groups):
        level = level if isinstance(level, tuple) else (level,)
        x = np.arange(len(columns)) - 0.4 + width * (g + 0.5)
        values = rows[columns].to_numpy(float)
        spread = values.std(axis=0, ddof=1) if len(rows) > 1 else None
        ax.bar(
            x,
            values.mean(axis=0),
            width * 0.9,
            yerr=spread,
            capsize=3,
            color=colours[g],
            alpha=0.8,
            label=f"{level_label(level, keys)} ({len(rows)} runs)",
        )
        jitter = rng.uniform(-0.18, 0.18, size=values.shape) * width
        ax.scatter(
            (x + jitter).ravel(),
            values.ravel(),
            s=14,
            color="black",
            alpha=0.7,
            zorder=3,
            linewidths=0,
        )
    ax.axhline(100, color="#888888", linewidth=0.6)
    ax.set_xticks(np.arange(len(columns)), names)
    ax.set_ylabel("% OOD performance retained (last tap)")
    ax.set_ylim(0, 105)
    longest = max(len(text) for text in ax.get_legend_handles_labels()[1])
    ncol = max(1, min(len(groups), 3, 84 // longest))  # as many as fit across the figure
    fig.legend(loc="outside lower center", ncol=ncol, fontsize=9, frameon=False)
    _style(ax, "y")
    fig.suptitle(title or "% OOD retained per level (bars: mean ± 1 s.d.; dots: runs)", fontsize=11)
    return save_figure(fig, out_path)
