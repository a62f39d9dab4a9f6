"""Where does this backbone stand: the user's runs against the paper's 64 backbones."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tunnellab.analysis.paper_results import load_paper_results
from tunnellab.metrics.tunnel import STRENGTH_BINS, tunnel_strength
from tunnellab.report.svg import histogram, scatter


def paper_backbones() -> pd.Series:
    """Mean % retained over its OOD sets, per backbone of the paper's released results."""
    table = load_paper_results()
    return table.groupby("paper_block", sort=True)["retained"].mean()


def standing_context(runs: pd.DataFrame) -> dict[str, Any]:
    """Histogram and scatter for ``runs`` (columns ``label``, ``id_accuracy`` (%),
    ``retained_mean``)."""
    paper = paper_backbones()
    bins = [label for label, _ in STRENGTH_BINS]
    counts = [int((paper.map(tunnel_strength) == b).sum()) for b in bins]
    marks = [
        (str(r.label), tunnel_strength(r.retained_mean))
        for r in runs.itertuples(index=False)
        if r.retained_mean == r.retained_mean
    ]
    points = [
        (float(r.id_accuracy), float(r.retained_mean), str(r.label))
        for r in runs.itertuples(index=False)
        if r.id_accuracy == r.id_accuracy and r.retained_mean == r.retained_mean
    ]
    below = [float((paper < r).mean() * 100) for r in runs["retained_mean"] if r == r]
    return {
        "n_paper": len(paper),
        "histogram": histogram(bins, counts, marks),
        "scatter": scatter(points, band=paper.tolist(), band_label="paper"),
        "percentiles": [
            {"label": m[0], "strength": m[1], "percentile": p}
            for m, p in zip(marks, below, strict=True)
        ],
    }
