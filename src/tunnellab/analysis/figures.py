"""The study's figures: SHAP slopes and beeswarms, % retained per backbone, variable trends.

Every function draws on its own matplotlib ``Figure`` with the Agg canvas (no pyplot state, no
display needed) and writes ``<out_path>.png`` (dpi 200) and ``.pdf``; each returns both paths.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from tunnellab.analysis.curves import save_figure as save_figure_at
from tunnellab.analysis.paper_refs import counterpart
from tunnellab.analysis.shap_slopes import SHAP_LABELS, ShapFit
from tunnellab.analysis.stats import Comparison, level_series, matched_scope, mean_ci
from tunnellab.analysis.table import (
    METRIC_LABELS,
    METRICS,
    NO_AUGMENTATION,
    model_sort_key,
    natural_key,
    sorted_levels,
)

POSITIVE = "#2166ac"
NEGATIVE = "#b2182b"
ARCH_COLOURS = {"VGGm": "#1f77b4", "VGGm†": "#17becf", "ResNet": "#d62728", "ViT": "#2ca02c"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, out_path: str | Path) -> list[Path]:
    """Write ``fig`` as PNG (dpi 200) and PDF next to each other; returns both paths."""
    return save_figure_at(fig, out_path, dpi=200)


def _title(fig: Figure, title: str, output: str, fontsize: float = 11.0) -> None:
    """``title`` with a second line naming the paper element the figure reproduces."""
    paper = counterpart(output)
    fig.suptitle(title + (f"\nreproduces {paper}" if paper else ""), fontsize=fontsize)


def _style(ax: Axes, grid_axis: str = "both") -> None:
    ax.grid(True, axis=grid_axis, color="#dddddd", linewidth=0.7)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=9)


def shap_slopes_figure(slopes: pd.DataFrame, normalised: bool = False) -> Figure:
    """Horizontal bars of the SHAP slope of every variable, one panel per metric.

    Raw slopes by default (the released script's quantity, the one the published figure shows);
    ``normalised`` draws them divided by the sum of their absolute values per metric instead,
    and says so on the axis. Variables keep one order in every panel (by the first metric's
    slope) so panels compare.
    """
    column = "slope_l1" if normalised else "slope"
    metrics = list(dict.fromkeys(slopes["metric"]))
    first = slopes[slopes["metric"] == metrics[0]].set_index("variable")[column]
    order = list(first.fillna(0.0).sort_values().index)
    fig = _figure(4.2 * len(metrics), 0.42 * len(order) + 1.4)
    axes = fig.subplots(1, len(metrics), squeeze=False, sharey=True)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        rows = slopes[slopes["metric"] == metric].set_index("variable")
        values = rows[column].reindex(order).fillna(0.0).to_numpy()
        y = np.arange(len(order))
        colours = [POSITIVE if v >= 0 else NEGATIVE for v in values]
        ax.barh(y, values, color=colours, alpha=0.85, height=0.7)
        ax.axvline(0, color="black", linewidth=0.8)
        span = max(float(np.abs(values).max()), 1e-9)
        for yi, v in zip(y, values, strict=True):
            ax.text(
                v + (0.02 * span if v >= 0 else -0.02 * span),
                yi,
                f"{v:+.2f}",
                va="center",
                ha="left" if v >= 0 else "right",
                fontsize=8.5,
            )
        ax.set_xlim(-1.3 * span, 1.3 * span)
        ax.set_yticks(y, [SHAP_LABELS.get(v, v) for v in order])
        r2 = float(rows["r2"].iloc[0])
        ax.set_title(f"{METRIC_LABELS.get(metric, metric)}\nin-sample R² = {r2:.2f}", fontsize=10)
        ax.set_xlabel(
            "SHAP slope, L1-normalised over variables" if normalised else "SHAP slope (raw)",
            fontsize=10,
        )
        _style(ax, "x")
    kind = "L1-normalised SHAP slope" if normalised else "SHAP slope"
    _title(
        fig,
        f"Effect of each variable: {kind} (> 0: higher level, larger metric)",
        "shap_slopes_l1" if normalised else "shap_slopes",
    )
    return fig


def plot_shap_slopes(
    slopes: pd.DataFrame, out_path: str | Path, normalised: bool = False
) -> list[Path]:
    """:func:`shap_slopes_figure` written as PNG + PDF."""
    return save_figure(shap_slopes_figure(slopes, normalised), out_path)


def _swarm_offsets(x: np.ndarray, width: float = 0.38, bins: int = 60) -> np.ndarray:
    """Vertical offsets that spread points sharing an x bin (a simple beeswarm)."""
    offsets = np.zeros_like(x)
    if x.size == 0 or np.ptp(x) == 0:
        edges = np.zeros_like(x, dtype=int)
    else:
        edges = np.floor((x - x.min()) / np.ptp(x) * (bins - 1)).astype(int)
    for b in np.unique(edges):
        idx = np.flatnonzero(edges == b)
        ranks = np.arange(idx.size)
        signed = np.where(ranks % 2 == 0, 1, -1) * ((ranks + 1) // 2)
        offsets[idx] = signed
    peak = max(float(np.abs(offsets).max()), 1.0)
    return offsets / peak * width


def plot_shap_beeswarm(fits: Mapping[str, ShapFit], out_path: str | Path) -> list[Path]:
    """SHAP value of every row per variable, coloured by the variable's level (low → high)."""
    metrics = list(fits)
    n_vars = len(next(iter(fits.values())).shap.columns)
    fig = _figure(4.6 * len(metrics) + 0.8, 0.5 * n_vars + 1.5)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    cmap = colormaps["coolwarm"]
    for ax, metric in zip(axes, metrics, strict=True):
        fit = fits[metric]
        order = fit.shap.abs().mean().sort_values().index
        for yi, variable in enumerate(order):
            x = fit.shap[variable].to_numpy()
            codes = fit.codes[variable].to_numpy(float)
            level = codes / codes.max() if codes.max() > 0 else np.full_like(codes, 0.5)
            ax.scatter(x, yi + _swarm_offsets(x), c=cmap(level), s=7, alpha=0.8, linewidths=0)
        ax.axvline(0, color="#555555", linewidth=0.8)
        ax.set_yticks(range(len(order)), [SHAP_LABELS.get(v, v) for v in order])
        ax.set_title(f"{METRIC_LABELS.get(metric, metric)} (R² {fit.r2:.2f})", fontsize=10)
        ax.set_xlabel("SHAP value (impact on the prediction)", fontsize=10)
        _style(ax, "x")
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), cmap), ax=list(axes), shrink=0.8)
    bar.set_ticks([0, 1], labels=["low", "high"])
    bar.set_label("variable level")
    _title(fig, "SHAP value of every row per variable", "shap_beeswarm")
    return save_figure(fig, out_path)


def _setting_label(resolution: float, augmentation: str) -> str:
    aug = "aug" if augmentation != NO_AUGMENTATION else "no aug"
    return f"{int(resolution)}², {aug}"


def _setting_key(setting: tuple[float, str]) -> tuple:
    return (natural_key(setting[0]), setting[1] != NO_AUGMENTATION, setting[1])


def _box_slots(rows: pd.DataFrame) -> list[tuple[str, list[tuple[float, str]]]]:
    """Per model (paper order) the (resolution, augmentation) settings it was trained with."""
    models = sorted(rows["model"].unique(), key=model_sort_key)
    slots = []
    for model in models:
        sel = rows[rows["model"] == model]
        settings = {*zip(sel["resolution"], sel["augmentation"], strict=True)}
        slots.append((model, sorted(settings, key=_setting_key)))
    return slots


def plot_retained_by_model(table: pd.DataFrame, out_path: str | Path) -> list[Path]:
    """Box plots of % retained over OOD sets per model × resolution × augmentation.

    One panel per ID dataset, using its most common classes × samples setting (so subsets of
    the ID data do not mix with full-data backbones). Colour: resolution; hatched: no aug.
    """
    panels = []
    for name in table["id_dataset"].value_counts().index:
        rows = table[table["id_dataset"] == name]
        main = rows["classes_samples"].value_counts().index[0]
        rows = rows[rows["classes_samples"] == main]
        panels.append((name, main, rows, _box_slots(rows)))
    resolutions = sorted_levels(table["resolution"])
    shades = colormaps["viridis"](np.linspace(0.15, 0.85, max(len(resolutions), 2)))
    colour = {r: shades[i] for i, r in enumerate(resolutions)}
    widths = [sum(len(s) + 1 for _, s in slots) for *_, slots in panels]
    fig = _figure(min(18.0, max(6.5, 1.5 + 0.27 * sum(widths))), 4.8)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True, width_ratios=widths)[0]
    for ax, (name, main, rows, slots) in zip(axes, panels, strict=True):
        cursor, centres, labels = 0.0, [], []
        for model, settings in slots:
            for j, (res, aug) in enumerate(settings):
                sel = rows[
                    (rows.model == model) & (rows.resolution == res) & (rows.augmentation == aug)
                ]
                box = ax.boxplot(
                    sel["retained"].dropna().to_numpy(),
                    positions=[cursor + j],
                    widths=0.75,
                    patch_artist=True,
                    flierprops={"markersize": 2.5},
                    medianprops={"color": "black", "linewidth": 1.1},
                )
                face = box["boxes"][0]
                face.set_facecolor(colour[res])
                if aug == NO_AUGMENTATION:
                    face.set_alpha(0.45)
                    face.set_hatch("///")
            centres.append(cursor + (len(settings) - 1) / 2)
            labels.append(model_label_of(rows, model))
            cursor += len(settings) + 1
        ax.set_xticks(centres, labels, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.8, cursor - 1.2)
        ax.axhline(100, color="#888888", linewidth=0.6)
        ax.set_title(f"{name} ({main})", fontsize=10)
        _style(ax, "y")
    axes[0].set_ylabel("% OOD performance retained")
    settings = sorted(
        {*zip(table["resolution"], table["augmentation"], strict=True)}, key=_setting_key
    )
    handles = [
        Patch(
            facecolor=colour[r],
            alpha=1.0 if a != NO_AUGMENTATION else 0.45,
            hatch=None if a != NO_AUGMENTATION else "///",
            label=_setting_label(r, a),
        )
        for r, a in settings
    ]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 8), fontsize=9)
    _title(fig, "% OOD retained per backbone (box: its OOD datasets)", "retained_by_model")
    return save_figure(fig, out_path)


def model_label_of(rows: pd.DataFrame, model: str) -> str:
    """The display label of ``model`` in ``rows``."""
    return str(rows.loc[rows["model"] == model, "model_label"].iloc[0])


def plot_depth_overparam(
    table: pd.DataFrame, depth: Comparison, out_path: str | Path, metric: str = "retained"
) -> list[Path]:
    """Left: mean ± 95% CI of ``metric`` per depth and architecture (depth-matched runs).
    Right: each backbone's mean over OOD sets against its over-parameterisation level."""
    fig = _figure(11.0, 4.4)
    left, right = fig.subplots(1, 2)
    scope = table[matched_scope(table, depth)]
    for arch, rows in scope.groupby("arch", sort=True):
        levels = sorted_levels(rows["depth"])
        cis = [mean_ci(rows.loc[rows.depth == d, metric].to_numpy()) for d in levels]
        means = np.array([c.mean for c in cis])
        err = np.array([[c.mean - c.ci_low for c in cis], [c.ci_high - c.mean for c in cis]])
        left.errorbar(
            levels,
            means,
            yerr=np.nan_to_num(err),
            marker="o",
            capsize=3,
            linewidth=1.8,
            color=ARCH_COLOURS.get(str(arch)),
            label=str(arch),
        )
    left.set_xlabel("depth")
    left.set_ylabel(METRIC_LABELS.get(metric, metric))
    left.set_title("depth (runs that differ only in depth)", fontsize=10)
    if left.lines:
        left.legend(fontsize=9, frameon=False)
    _style(left)

    per = table.groupby("backbone", sort=False).agg(
        value=(metric, "mean"),
        overparam=("overparam", "first"),
        arch=("arch", "first"),
        id_dataset=("id_dataset", "first"),
    )
    marker = {d: MARKERS[i % len(MARKERS)] for i, d in enumerate(sorted(per.id_dataset.unique()))}
    for (arch, dataset), rows in per.groupby(["arch", "id_dataset"]):
        right.scatter(
            rows.overparam,
            rows.value,
            color=ARCH_COLOURS.get(str(arch), "#7f7f7f"),
            marker=marker[dataset],
            s=32,
            alpha=0.85,
            edgecolors="white",
            linewidths=0.5,
        )
    valid = per.dropna(subset=["value", "overparam"])
    valid = valid[valid.overparam > 0]
    if len(valid) >= 3 and valid.overparam.nunique() > 1:
        slope, intercept = np.polyfit(np.log10(valid.overparam), valid.value, 1)
        xs = np.geomspace(valid.overparam.min(), valid.overparam.max(), 50)
        right.plot(xs, intercept + slope * np.log10(xs), "--", color="#444444", linewidth=1.2)
    right.set_xscale("log")
    right.set_xlabel("over-parameterisation γ = parameters / ID training images (log)")
    right.set_title(
        "over-parameterisation (one point per backbone; dashed: fit on log γ)", fontsize=10
    )
    handles = [
        Line2D([], [], color=c, marker="o", linestyle="", label=a)
        for a, c in ARCH_COLOURS.items()
        if a in set(per.arch)
    ]
    handles += [
        Line2D([], [], color="#555555", marker=m, linestyle="", label=d) for d, m in marker.items()
    ]
    right.legend(handles=handles, fontsize=8.5, frameon=False, ncol=2)
    _style(right)
    _title(
        fig,
        f"Depth and over-parameterisation: {METRIC_LABELS.get(metric, metric)}",
        "depth_overparam",
    )
    return save_figure(fig, out_path)


def plot_levels(
    table: pd.DataFrame,
    comparison: Comparison,
    out_path: str | Path,
    metrics: Sequence[str] = METRICS,
    title: str = "",
) -> list[Path]:
    """Box plots of each metric per level of one variable (matched runs), mean ± 95% CI marked."""
    scope = table[matched_scope(table, comparison)]
    levels = level_series(scope, comparison)
    order = sorted_levels(levels)
    fig = _figure(max(7.0, 1.0 + len(metrics) * (1.2 + 0.55 * len(order))), 4.0)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        data = [scope.loc[levels == lvl, metric].dropna().to_numpy() for lvl in order]
        ax.boxplot(
            data,
            positions=range(len(order)),
            widths=0.6,
            patch_artist=True,
            boxprops={"facecolor": "#c6dbef", "edgecolor": "#2b5d8a"},
            medianprops={"color": "#08306b"},
            flierprops={"markersize": 2.5},
        )
        for i, values in enumerate(data):
            ci = mean_ci(values)
            if ci.n:
                ax.errorbar(
                    [i],
                    [ci.mean],
                    yerr=[[ci.mean - ci.ci_low], [ci.ci_high - ci.mean]],
                    fmt="D",
                    color=NEGATIVE,
                    markersize=4.5,
                    capsize=3,
                    linewidth=1.2,
                )
        ax.set_xticks(range(len(order)), [str(lvl) for lvl in order])
        ax.tick_params(axis="x", rotation=30 if len(order) > 4 else 0)
        ax.set_title(METRIC_LABELS.get(metric, metric), fontsize=10)
        _style(ax, "y")
    counts = ", ".join(f"{lvl}: {int((levels == lvl).sum())}" for lvl in order)
    _title(
        fig,
        (title or comparison.title) + f" (matched runs; rows per level {counts}; ◆ mean ± 95% CI)",
        f"levels_{comparison.variable}",
        fontsize=10.5,
    )
    return save_figure(fig, out_path)
