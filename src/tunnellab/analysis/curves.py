"""Per-tap probe-accuracy curves in the style of the paper's Figure 1."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from scipy import stats

from tunnellab.metrics.tunnel import check_curve, normalised_curve, ood_retained, tunnel_start

__all__ = ["plot_mean_ood_curve", "plot_tunnel_curves"]

#: Band of a mean OOD curve: ± one standard deviation, or the 95% t-interval.
CURVE_BANDS: tuple[str, ...] = ("std", "ci")
#: Tap names are all shown as tick labels up to this many taps; beyond it, every k-th tap.
MAX_NAMED_TICKS = 24
#: Target number of tick labels when thinning.
THINNED_TICKS = 12

_OOD_COLOURS = (
    "#d62728",  # red
    "#1f77b4",  # blue
    "#2ca02c",  # green
    "#ff7f0e",  # orange
    "#9467bd",  # purple
    "#8c564b",  # brown
    "#e377c2",  # pink
    "#17becf",  # cyan
    "#bcbd22",  # olive
    "#7f7f7f",  # grey
)
_OOD_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")
_SHADE = "#9e9e9e"
_FLOOR_STYLES = ("--", ":", "-.")  # floors: random-init backbone, shuffled labels, ...


def _output_paths(out_path: str | Path) -> tuple[Path, Path]:
    """``out_path`` with ``.png`` and ``.pdf`` suffixes (an existing .png/.pdf one is replaced)."""
    path = Path(out_path)
    if path.suffix.lower() in {".png", ".pdf"}:
        path = path.with_suffix("")
    return path.with_name(path.name + ".png"), path.with_name(path.name + ".pdf")


def save_figure(fig: Figure, out_path: str | Path, dpi: int = 150) -> list[Path]:
    """Write ``fig`` as PNG and PDF (no creation date, so reruns give the same file); clear it."""
    png_path, pdf_path = _output_paths(out_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path, dpi=dpi)
    fig.savefig(pdf_path, metadata={"CreationDate": None})
    fig.clear()
    return [png_path, pdf_path]


def _tick_positions(n: int) -> list[int]:
    """1-based taps that get a tick label: all of them, or every k-th plus the last."""
    if n <= MAX_NAMED_TICKS:
        return list(range(1, n + 1))
    step = math.ceil(n / THINNED_TICKS)
    ticks = list(range(1, n + 1, step))
    if n - ticks[-1] < step / 2:  # avoid crowding the last label
        ticks.pop()
    ticks.append(n)
    return ticks


def _style_axes(ax: Axes, tap_names: Sequence[str], ylabel: str) -> None:
    n = len(tap_names)
    ticks = _tick_positions(n)
    ax.set_xticks(ticks)
    ax.set_xticklabels(
        [str(tap_names[t - 1]) for t in ticks],
        rotation=45,
        ha="right",
        rotation_mode="anchor",
        fontsize=8.5,
    )
    ax.tick_params(axis="y", labelsize=9)
    ax.set_xlim(0.5, n + 0.5)
    ax.set_xlabel("tap (layer)", fontsize=11)
    ax.set_ylabel(ylabel, fontsize=11)
    ax.grid(True, color="#d9d9d9", linewidth=0.7)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _draw_panel(
    ax: Axes,
    id_curve: np.ndarray,
    ood: dict[str, np.ndarray],
    starts: dict[str, int | None],
    colours: dict[str, tuple[str, str]],
    normalise: bool,
    panel_title: str,
) -> None:
    """Draw ID and OOD curves, tunnel-start markers and the shaded tunnel region on ``ax``."""
    n = id_curve.size
    x = np.arange(1, n + 1)
    transform = normalised_curve if normalise else (lambda c: c)

    valid_starts = [s for s in starts.values() if s is not None]
    if valid_starts:
        ax.axvspan(min(valid_starts), n + 0.5, color=_SHADE, alpha=0.12, linewidth=0, zorder=0)

    ax.plot(x, transform(id_curve), color="black", linewidth=2.8, zorder=4, solid_capstyle="round")
    many = n > 30
    for name, curve in ood.items():
        colour, marker = colours[name]
        y = transform(curve)
        ax.plot(
            x,
            y,
            color=colour,
            linewidth=1.6,
            marker=marker,
            markersize=3 if many else 4.5,
            markeredgewidth=0,
            zorder=3,
        )
        start = starts[name]
        if start is not None:
            ax.axvline(start, color=colour, linestyle=":", linewidth=1.4, zorder=2)
            ax.plot(
                [start],
                [y[start - 1]],
                marker="*",
                markersize=13,
                color=colour,
                markeredgecolor="black",
                markeredgewidth=0.6,
                linestyle="none",
                zorder=5,
            )

    if normalise:
        ax.set_ylim(0.0, 1.05)
    else:
        top = max([float(id_curve.max())] + [float(c.max()) for c in ood.values()])
        ax.set_ylim(0.0, min(1.05, top * 1.05 + 0.02))
    if panel_title:
        ax.set_title(panel_title, fontsize=11)


def plot_tunnel_curves(
    id_curve: Sequence[float],
    ood_curves: Mapping[str, Sequence[float]],
    tap_names: Sequence[str],
    out_path: str | Path,
    title: str = "",
    tunnel_starts: Mapping[str, int | None] | None = None,
    normalise: bool = True,
    id_label: str = "ID",
    floors: Mapping[str, Sequence[float]] | None = None,
) -> list[Path]:
    """Plot ID and OOD probe-accuracy curves per tap; write ``.png`` (dpi 150) and ``.pdf``.

    ``floors`` (label → per-tap ID accuracy, e.g. a random-init backbone, shuffled labels) are
    drawn in grey on the raw-accuracy panel, dashed, dotted, then dash-dotted.

    With ``normalise`` (default) the left panel shows each curve divided by its own maximum and
    a right panel the raw accuracies; without it, a single raw-accuracy panel is drawn. OOD
    legend entries give the % retained; each OOD tunnel start (from ``tunnel_starts`` or, for
    names missing there, computed with :func:`tunnel_start`) is marked with a dotted line and a
    star at the peak, and the region after the earliest tunnel start is lightly shaded.
    Returns ``[png_path, pdf_path]``; parent directories are created.
    """
    id_arr = check_curve("id_curve", id_curve)
    tap_names = [str(t) for t in tap_names]
    n = id_arr.size
    if len(tap_names) != n:
        raise ValueError(f"tap_names has {len(tap_names)} entries but id_curve has {n} taps")
    ood: dict[str, np.ndarray] = {}
    for name, curve in ood_curves.items():
        arr = check_curve(f"ood_curves[{name!r}]", curve)
        if arr.size != n:
            raise ValueError(
                f"ood_curves[{name!r}] has {arr.size} taps but tap_names has {n} entries"
            )
        ood[str(name)] = arr

    given = dict(tunnel_starts or {})
    unknown = set(given) - set(ood)
    if unknown:
        raise ValueError(f"tunnel_starts names unknown OOD curves: {sorted(unknown)}")
    starts: dict[str, int | None] = {}
    for name, arr in ood.items():
        start = given[name] if name in given else tunnel_start(arr)
        ok = isinstance(start, (int, np.integer)) and not isinstance(start, bool)
        if start is not None and not (ok and 1 <= start <= n):
            raise ValueError(f"tunnel_starts[{name!r}] must be a tap in 1..{n} or None: {start!r}")
        starts[name] = None if start is None else int(start)

    floor_arrs = {str(k): check_curve(f"floors[{k!r}]", v) for k, v in (floors or {}).items()}
    for name, arr in floor_arrs.items():
        if arr.size != n:
            raise ValueError(f"floors[{name!r}] has {arr.size} taps but tap_names has {n} entries")
    colours = {
        name: (_OOD_COLOURS[i % len(_OOD_COLOURS)], _OOD_MARKERS[i % len(_OOD_MARKERS)])
        for i, name in enumerate(ood)
    }

    n_panels = 2 if normalise else 1
    panel_w = min(7.5, max(5.0, 3.2 + 0.16 * n))
    fig = Figure(figsize=(panel_w * n_panels, 4.9), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    if normalise:
        _draw_panel(axes[0], id_arr, ood, starts, colours, True, "normalised by each curve's max")
        _style_axes(axes[0], tap_names, "probe accuracy / max")
        _draw_panel(axes[1], id_arr, ood, starts, colours, False, "raw accuracy")
        _style_axes(axes[1], tap_names, "probe accuracy")
    else:
        _draw_panel(axes[0], id_arr, ood, starts, colours, False, "")
        _style_axes(axes[0], tap_names, "probe accuracy")
    for arr, style in zip(floor_arrs.values(), _FLOOR_STYLES, strict=False):
        axes[-1].plot(np.arange(1, n + 1), arr, color="grey", linestyle=style, linewidth=1.6)

    handles: list[Line2D | Patch] = [
        Line2D([], [], color="black", linewidth=2.8, label=f"{id_label} (max {id_arr.max():.0%})")
    ]
    for name, arr in ood.items():
        colour, marker = colours[name]
        handles.append(
            Line2D(
                [],
                [],
                color=colour,
                linewidth=1.6,
                marker=marker,
                markersize=5,
                markeredgewidth=0,
                label=f"{name} ({ood_retained(arr):.0f}% retained)",
            )
        )
    for (name, arr), style in zip(floor_arrs.items(), _FLOOR_STYLES, strict=False):
        label = f"{name}, ID (max {arr.max():.0%})"
        handles.append(Line2D([], [], color="grey", linestyle=style, linewidth=1.6, label=label))
    if any(s is not None for s in starts.values()):
        handles.append(
            Line2D(
                [],
                [],
                color="dimgrey",
                linestyle=":",
                marker="*",
                markersize=10,
                markeredgecolor="black",
                markeredgewidth=0.6,
                label="tunnel start (OOD peak)",
            )
        )
        handles.append(Patch(color=_SHADE, alpha=0.25, label="after earliest tunnel start"))
    fig.legend(
        handles=handles,
        loc="outside lower center",
        ncol=min(len(handles), 4 if n_panels == 2 else 2),
        fontsize=9.5,
        frameon=False,
    )
    if title:
        fig.suptitle(title, fontsize=12.5)

    return save_figure(fig, out_path)


def plot_mean_ood_curve(
    id_curve: Sequence[float],
    ood_curves: Mapping[str, Sequence[float]],
    tap_names: Sequence[str],
    out_path: str | Path,
    title: str = "",
    band: str = "std",
    id_label: str = "ID",
) -> list[Path]:
    """The paper's Figure 1 view: normalised ID curve and the mean normalised OOD curve.

    Each curve is divided by its own maximum; the OOD mean over datasets gets a band of ± one
    standard deviation (``band="std"``) or its 95% t-interval (``band="ci"``), and the tunnel
    start of the mean OOD curve is marked. Writes ``.png`` (dpi 150) and ``.pdf``.
    """
    if band not in CURVE_BANDS:
        raise ValueError(f"band must be 'std' or 'ci', got {band!r}")
    id_norm = normalised_curve(id_curve)
    n = id_norm.size
    if len(tap_names) != n:
        raise ValueError(f"tap_names has {len(tap_names)} entries but id_curve has {n} taps")
    if not ood_curves:
        raise ValueError("ood_curves is empty")
    rows = []
    for name, curve in ood_curves.items():
        arr = check_curve(f"ood_curves[{name!r}]", curve)
        if arr.size != n:
            raise ValueError(f"ood_curves[{name!r}] has {arr.size} taps, the ID curve {n}")
        rows.append(normalised_curve(arr))
    ood = np.vstack(rows)
    mean = ood.mean(axis=0)
    spread = ood.std(axis=0, ddof=1) if len(ood) > 1 else np.zeros(n)
    if band == "ci" and len(ood) > 1:
        spread = spread / math.sqrt(len(ood)) * float(stats.t.ppf(0.975, len(ood) - 1))
    start = tunnel_start(np.clip(mean, 0.0, 1.0))

    fig = Figure(figsize=(min(9.0, max(5.5, 3.5 + 0.18 * n)), 4.4), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    x = np.arange(1, n + 1)
    if start is not None:
        ax.axvspan(start, n + 0.5, color=_SHADE, alpha=0.12, linewidth=0, zorder=0)
        ax.axvline(start, color=_OOD_COLOURS[0], linestyle=":", linewidth=1.4, zorder=2)
    ax.plot(x, id_norm, color="black", linewidth=2.6, label=id_label, zorder=4)
    band_label = "± 1 s.d." if band == "std" else "95% CI"
    ax.fill_between(
        x,
        mean - spread,
        np.minimum(mean + spread, 1.05),
        color=_OOD_COLOURS[0],
        alpha=0.18,
        linewidth=0,
        zorder=1,
        label=f"OOD {band_label} over {len(ood)} sets",
    )
    ax.plot(
        x,
        mean,
        color=_OOD_COLOURS[0],
        linewidth=2.0,
        marker="o",
        markersize=3.5,
        label=f"OOD mean ({100 * mean[-1] / mean.max():.0f}% retained)",
        zorder=3,
    )
    if start is not None:
        ax.plot(
            [start],
            [mean[start - 1]],
            marker="*",
            markersize=13,
            color=_OOD_COLOURS[0],
            markeredgecolor="black",
            markeredgewidth=0.6,
            linestyle="none",
            zorder=5,
            label=f"tunnel start (tap {start})",
        )
    _style_axes(ax, [str(t) for t in tap_names], "probe accuracy / max")
    ax.set_ylim(0.0, 1.05)
    ax.legend(loc="best", fontsize=9, frameon=False)
    if title:
        ax.set_title(title, fontsize=11)
    return save_figure(fig, out_path)
