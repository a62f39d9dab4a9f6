"""The context of a study's report: a sweep dir (its runs and study tables) or a
``tunnellab-analyze`` output dir (its statistics), with the paper's backbones for reference."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from tunnellab.analysis.run_sources import find_run_dirs
from tunnellab.errors import TunnellabError
from tunnellab.probe.variants import headline_rows
from tunnellab.report.assets import listing, png_image
from tunnellab.report.run_page import (
    METRIC_PAGE_COLUMNS,
    accuracy_column,
    curve_series,
    read_probes,
)
from tunnellab.report.standing import standing_context
from tunnellab.report.svg import line_chart
from tunnellab.report.tables import read_csv, table
from tunnellab.run_identity import REPORT_HTML, TUNNEL_METRICS
from tunnellab.tracking.study import STUDY_FIGURE, STUDY_LEVELS, STUDY_RUNS, study_runs

#: Files of a tunnellab-analyze out_dir that the study report shows, in this order.
ANALYSIS_TABLES = (
    ("paired_tests.csv", "Paired tests (Wilcoxon signed-rank p, Cliff's δ of b vs a)"),
    ("shap_slopes.csv", "SHAP slopes"),
    ("group_means.csv", "Group means (95 % CI)"),
    ("strength_bins.csv", "Tunnel strength (backbones)"),
)
#: Small multiples drawn at most (a bigger study links each run's report instead).
MAX_MULTIPLES = 96


def is_analysis_dir(path: Path) -> bool:
    """Whether ``path`` holds ``tunnellab-analyze`` outputs."""
    return (path / "runs.csv").is_file() and (path / "paired_tests.csv").is_file()


def analysis_dirs(sweep_dir: Path) -> list[Path]:
    """``tunnellab-analyze`` out_dirs inside a sweep dir (one level down)."""
    return [p for p in sorted(sweep_dir.iterdir()) if p.is_dir() and is_analysis_dir(p)]


def _rel(target: Path, start: Path) -> str:
    return Path(os.path.relpath(target, start)).as_posix()


def multiples(run_dirs: list[Path], page_dir: Path) -> list[dict[str, Any]]:
    """One small curve figure per run dir, with a link to its report where one exists."""
    out = []
    for run_dir in run_dirs[:MAX_MULTIPLES]:
        try:
            probes = read_probes(run_dir)
            metrics = read_csv(run_dir / TUNNEL_METRICS, METRIC_PAGE_COLUMNS)
        except TunnellabError:  # unreadable: left out (write_study_report names it)
            continue
        column = accuracy_column(metrics)
        report = run_dir / REPORT_HTML
        out.append(
            {
                "name": _rel(run_dir, page_dir),
                "chart": line_chart(
                    curve_series(headline_rows(probes), column), width=240, height=150, legend=False
                ),
                "href": _rel(report, page_dir) if report.is_file() else "",
            }
        )
    return out


def _analysis_sections(out_dir: Path, page_dir: Path) -> dict[str, Any]:
    tables = []
    for name, title in ANALYSIS_TABLES:
        frame = read_csv(out_dir / name)
        if frame is not None and len(frame):
            tables.append(
                {"title": title, "file": _rel(out_dir / name, page_dir), "table": table(frame)}
            )
    found = [*sorted(out_dir.glob("*.png")), *sorted((out_dir / "figures").glob("*.png"))]
    figures = [img for p in found if (img := png_image(p))]
    return {"dir": _rel(out_dir, page_dir), "tables": tables, "figures": figures}


def _run_labels(runs: pd.DataFrame) -> pd.DataFrame:
    labels = [
        f"{job}: {over}" if isinstance(over, str) and over else str(job)
        for job, over in zip(runs["job"], runs.get("overrides", [""] * len(runs)), strict=True)
    ]
    return pd.DataFrame(
        {
            "label": labels,
            "id_accuracy": runs["id_accuracy"],
            "retained_mean": runs["retained_mean"],
        }
    )


def sweep_context(sweep_dir: Path, skipped: list[str] | None = None) -> dict[str, Any]:
    """Everything the study template shows for a sweep dir (``skipped``: unreadable run dirs)."""
    run_dirs = [d for d in find_run_dirs(sweep_dir) if d != sweep_dir]
    runs = read_csv(sweep_dir / STUDY_RUNS)
    if runs is None:
        runs = study_runs(sweep_dir)
    levels = read_csv(sweep_dir / STUDY_LEVELS)
    links = {
        "job": [
            _rel(sweep_dir / str(j) / REPORT_HTML, sweep_dir)
            if (sweep_dir / str(j) / REPORT_HTML).is_file()
            else ""
            for j in runs["job"]
        ]
    }
    return {
        "kind": "study",
        "title": f"Study {sweep_dir.name}",
        "source": str(sweep_dir),
        "skipped": skipped or [],
        "runs": table(runs, links=links),
        "levels": None if levels is None else table(levels),
        "figure": png_image(sweep_dir / f"{STUDY_FIGURE}.png", "% retained per level"),
        "multiples": multiples(run_dirs, sweep_dir),
        "analyses": [_analysis_sections(d, sweep_dir) for d in analysis_dirs(sweep_dir)],
        "standing": standing_context(_run_labels(runs)),
        "files": listing(sweep_dir),
    }


def analysis_context(out_dir: Path) -> dict[str, Any]:
    """Everything the study template shows for a ``tunnellab-analyze`` out_dir."""
    rows = read_csv(out_dir / "runs.csv")
    assert rows is not None  # is_analysis_dir checked it
    by_backbone = rows.groupby("backbone", sort=False)
    summary = by_backbone["retained"].mean().rename("retained_mean").reset_index()
    summary.insert(
        1,
        "id_accuracy",
        100 * by_backbone["id_accuracy"].first().to_numpy()
        if "id_accuracy" in rows
        else float("nan"),
    )
    run_dirs = (
        [Path(p) for p in dict.fromkeys(rows["run_dir"]) if Path(p).is_dir()]
        if "run_dir" in rows
        else []
    )
    return {
        "kind": "study",
        "skipped": [],
        "title": f"Analysis {out_dir.name}",
        "source": str(out_dir),
        "runs": table(summary),
        "levels": None,
        "figure": None,
        "multiples": multiples(run_dirs, out_dir),
        "analyses": [_analysis_sections(out_dir, out_dir)],
        "standing": standing_context(summary.rename(columns={"backbone": "label"})),
        "files": listing(out_dir),
    }
