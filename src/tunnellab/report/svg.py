"""Inline SVG figures of the HTML reports: curves, small multiples, histogram, scatter.

Every figure is a string of markup with no external reference; each data point carries a
``<title>`` so that hovering it in a browser shows what it is (tap and accuracy, run, ...).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

#: Colour of series i (Okabe–Ito, readable by colour-blind readers).
PALETTE = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#D55E00", "#0072B2", "#CC79A7", "#F0E442")


@dataclass(frozen=True)
class Series:
    """One curve: y over x, with a label per point for its hover text."""

    name: str
    x: Sequence[float]
    y: Sequence[float]
    point_labels: Sequence[str] = ()
    dashed: bool = False


def colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _scale(lo: float, hi: float, a: float, b: float):
    span = (hi - lo) or 1.0
    return lambda v: a + (float(v) - lo) * (b - a) / span


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values (steps of 1, 2, 2.5 or 5 × 10^k) inside [lo, hi]."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def line_chart(
    series: Sequence[Series],
    *,
    width: int = 560,
    height: int = 300,
    y_range: tuple[float, float] = (0.0, 100.0),
    x_label: str = "tap",
    y_label: str = "accuracy (%)",
    legend: bool = True,
    title: str = "",
) -> Markup:
    """Curves over integer taps, with a hover title on every point."""
    left, right, top, bottom = (
        (44, 10, 22 if title else 10, 34)
        if legend or title
        else (
            30,
            6,
            6,
            20,
        )
    )
    legend_h = 16 * ((len(series) + 3) // 4) if legend else 0
    xs = [float(v) for s in series for v in s.x] or [1.0]
    sx = _scale(min(xs), max(xs), left, width - right)
    sy = _scale(y_range[0], y_range[1], height - bottom - legend_h, top)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="chart" role="img">'
    ]
    if title:
        out.append(f'<text x="{left}" y="14" class="t">{escape(title)}</text>')
    for t in _ticks(*y_range):
        y = sy(t)
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{y + 4:.1f}" class="ax" text-anchor="end">{t:.0f}</text>'
        )
    x_ticks = sorted(set(xs))
    every = max(1, len(x_ticks) // 12)
    for t in x_ticks[::every]:
        x = sx(t)
        out.append(
            f'<text x="{x:.1f}" y="{height - bottom - legend_h + 13}" class="ax" '
            f'text-anchor="middle">{t:g}</text>'
        )
    if legend or title:
        out.append(
            f'<text x="{(left + width - right) / 2:.0f}" y="{height - legend_h - 6}" class="ax" '
            f'text-anchor="middle">{escape(x_label)}</text>'
            f'<text x="10" y="{(top + height - bottom - legend_h) / 2:.0f}" class="ax" '
            f'text-anchor="middle" transform="rotate(-90 10 '
            f'{(top + height - bottom - legend_h) / 2:.0f})">{escape(y_label)}</text>'
        )
    for i, s in enumerate(series):
        pts = [(sx(x), sy(y)) for x, y in zip(s.x, s.y, strict=True) if y == y]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{colour(i)}" stroke-width="1.8"{dash}/>'
        )
        labels = list(s.point_labels) or [f"{x:g}" for x in s.x]
        r = 3.5 if legend else 2.2
        for (x, y), label, yv in zip(pts, labels, [v for v in s.y if v == v], strict=False):
            out.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{colour(i)}" class="pt">'
                f"<title>{escape(s.name)} · {escape(label)}: {_fmt(yv)} %</title></circle>"
            )
    if legend:
        for i, s in enumerate(series):
            lx = left + (i % 4) * ((width - left - right) / 4)
            ly = height - legend_h + 12 + 16 * (i // 4)
            out.append(
                f'<rect x="{lx:.0f}" y="{ly - 8}" width="10" height="10" fill="{colour(i)}"/>'
                f'<text x="{lx + 14:.0f}" y="{ly + 1}" class="ax">{escape(s.name)}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


def histogram(
    bins: Sequence[str],
    counts: Sequence[int],
    marks: Sequence[tuple[str, str]] = (),
    *,
    width: int = 460,
    height: int = 240,
    y_label: str = "backbones",
) -> Markup:
    """Bars per bin (``counts``) with markers for ``marks`` (label, bin) stacked above their bin."""
    left, right, top, bottom = 40, 10, 14, 30
    peak = max([*counts, 1])
    slot = (width - left - right) / max(len(bins), 1)
    sy = _scale(0, peak * 1.25, height - bottom, top)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="chart" role="img">'
    ]
    for t in _ticks(0, peak, 4):
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
            f'class="grid"/><text x="{left - 4}" y="{sy(t) + 4:.1f}" class="ax" '
            f'text-anchor="end">{t:.0f}</text>'
        )
    stacked: dict[str, int] = {}
    for i, (name, count) in enumerate(zip(bins, counts, strict=True)):
        x = left + i * slot + slot * 0.15
        out.append(
            f'<rect x="{x:.1f}" y="{sy(count):.1f}" width="{slot * 0.7:.1f}" '
            f'height="{sy(0) - sy(count):.1f}" fill="#9fb8d0" class="pt">'
            f"<title>{escape(name)}: {count} {escape(y_label)}</title></rect>"
            f'<text x="{x + slot * 0.35:.1f}" y="{height - bottom + 14}" class="ax" '
            f'text-anchor="middle">{escape(name)}</text>'
        )
    for label, name in marks:
        if name not in bins:
            continue
        i = list(bins).index(name)
        k = stacked.get(name, 0)
        stacked[name] = k + 1
        x = left + i * slot + slot * 0.2 + (k % 8) * slot * 0.08
        y = sy(counts[i]) - 8 - 9 * (k // 8)
        out.append(
            f'<path d="M{x:.1f},{y + 5:.1f} l-4,-8 h8 z" fill="#D55E00" class="pt">'
            f"<title>{escape(label)} ({escape(name)})</title></path>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def scatter(
    points: Sequence[tuple[float, float, str]],
    *,
    band: Sequence[float] = (),
    band_label: str = "",
    width: int = 460,
    height: int = 280,
    x_label: str = "ID top-1 (%)",
    y_label: str = "% retained (mean over OOD sets)",
) -> Markup:
    """Points (x, y, label), and optionally a strip of reference y values at the right edge."""
    left, right, top, bottom = 46, 60 if band else 12, 12, 36
    xs = [p[0] for p in points] or [0.0, 100.0]
    ys = [p[1] for p in points] + list(band) or [0.0, 100.0]
    x_lo, x_hi = min(xs) - 5, max(xs) + 5
    y_lo, y_hi = min(0.0, min(ys) - 5), max(100.0, max(ys) + 5)
    sx = _scale(x_lo, x_hi, left, width - right)
    sy = _scale(y_lo, y_hi, height - bottom, top)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" class="chart" role="img">'
    ]
    for t in _ticks(y_lo, y_hi):
        out.append(
            f'<line x1="{left}" x2="{width - right}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" '
            f'class="grid"/><text x="{left - 4}" y="{sy(t) + 4:.1f}" class="ax" '
            f'text-anchor="end">{t:.0f}</text>'
        )
    for t in _ticks(x_lo, x_hi):
        out.append(
            f'<text x="{sx(t):.1f}" y="{height - bottom + 14}" class="ax" '
            f'text-anchor="middle">{t:.0f}</text>'
        )
    out.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 4}" class="ax" '
        f'text-anchor="middle">{escape(x_label)}</text>'
        f'<text x="10" y="{height / 2:.0f}" class="ax" text-anchor="middle" '
        f'transform="rotate(-90 10 {height / 2:.0f})">{escape(y_label)}</text>'
    )
    for v in band:
        out.append(
            f'<line x1="{width - right + 12}" x2="{width - right + 36}" y1="{sy(v):.1f}" '
            f'y2="{sy(v):.1f}" stroke="#56B4E9" stroke-opacity="0.6" class="pt">'
            f"<title>{escape(band_label)}: {v:.1f} %</title></line>"
        )
    if band:
        out.append(
            f'<text x="{width - right + 24}" y="{top + 8}" class="ax" '
            f'text-anchor="middle">{escape(band_label)}</text>'
        )
    for x, y, label in points:
        out.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4.5" fill="#D55E00" class="pt">'
            f"<title>{escape(label)}: ID {x:.1f} %, retained {y:.1f} %</title></circle>"
        )
    out.append("</svg>")
    return Markup("".join(out))
