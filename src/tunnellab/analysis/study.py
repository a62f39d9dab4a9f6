"""One analysis of many runs: statistics, SHAP slopes, tables and figures into one directory."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tunnellab.analysis import figures as fig
from tunnellab.analysis.input_diversity import diversity_correlations, diversity_shap
from tunnellab.analysis.report import write_report
from tunnellab.analysis.result import AnalysisOptions, AnalysisResult
from tunnellab.analysis.run_curves import plot_run_curves
from tunnellab.analysis.run_sources import RUNS_CSV, TAPS_CSV, SourceData
from tunnellab.analysis.shap_slopes import shap_slopes
from tunnellab.analysis.stats import (
    COMPARISONS,
    backbone_summary,
    group_means,
    matched_scope,
    paired_tests,
    per_backbone,
    strength_bins,
)
from tunnellab.analysis.table import backbone_label

__all__ = ["AnalysisOptions", "AnalysisResult", "analyze"]

FIGURES_DIR = "figures"
CURVES_DIR = "curves"
#: Variables drawn as per-level box plots (resolution × augmentation per architecture is in
#: ``retained_by_model``; depth and γ have their own trend figure).
LEVEL_FIGURES = ("stem", "spatial_reduction", "id_dataset", "classes_samples")


def _draw_figures(result: AnalysisResult, table: pd.DataFrame) -> list[Path]:
    out = result.out_dir / FIGURES_DIR
    drawn: list[Path] = []
    if not result.shap_slopes.empty:
        drawn += fig.plot_shap_slopes(result.shap_slopes, out / "shap_slopes")
        if result.options.normalise:
            drawn += fig.plot_shap_slopes(
                result.shap_slopes, out / "shap_slopes_l1", normalised=True
            )
        drawn += fig.plot_shap_beeswarm(result.shap_fits, out / "shap_beeswarm")
    drawn += fig.plot_retained_by_model(table, out / "retained_by_model")
    by_name = {c.variable: c for c in COMPARISONS}
    if table["overparam"].nunique() > 1 or matched_scope(table, by_name["depth"]).any():
        drawn += fig.plot_depth_overparam(table, by_name["depth"], out / "depth_overparam")
    missing = []
    for variable in LEVEL_FIGURES:
        comparison = by_name[variable]
        if matched_scope(table, comparison).any():
            drawn += fig.plot_levels(table, comparison, out / f"levels_{variable}")
        else:
            missing.append(variable)
    if missing:
        result.notes.append(
            f"no runs differ only in {', '.join(missing)}: no level figure for "
            + ("it" if len(missing) == 1 else "them")
        )
    return drawn


def _write_tables(result: AnalysisResult) -> dict[str, Path]:
    out = result.out_dir
    tables = {
        "runs": (RUNS_CSV, result.source.table),
        "group_means": ("group_means.csv", result.group_means),
        "paired_tests": ("paired_tests.csv", result.paired_tests),
        "pairs": ("pairs.csv", result.pairs),
        "shap_slopes": ("shap_slopes.csv", result.shap_slopes),
        "strength_bins": ("strength_bins.csv", result.strength_bins),
        "per_backbone": ("per_backbone.csv", result.per_backbone),
        "backbones": ("backbones.csv", result.backbones),
    }
    if result.source.taps is not None:
        tables["taps"] = (TAPS_CSV, result.source.taps)
    if not result.diversity.empty:
        tables["diversity"] = ("diversity.csv", result.diversity)
        tables["diversity_shap"] = ("diversity_shap.csv", result.diversity_shap)
    files = {}
    for key, (name, frame) in tables.items():
        frame.to_csv(out / name, index=False)
        files[key] = out / name
    return files


def _curve_title(row: pd.Series) -> str:
    label = backbone_label(row)
    return label if label == row["backbone"] else f"{label}\n{row['backbone']}"


def analyze(
    data: SourceData, out_dir: str | Path, options: AnalysisOptions | None = None
) -> AnalysisResult:
    """Compute every table, draw every figure and write them (and ``report.md``) to ``out_dir``."""
    options = options or AnalysisOptions()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = data.table
    metrics = [m for m in options.metrics if table[m].notna().any()]
    tests, pairs = paired_tests(table, metrics=metrics)
    slopes, fits = shap_slopes(table, metrics=metrics)
    result = AnalysisResult(
        out_dir=out_dir,
        source=data,
        options=options,
        group_means=group_means(table, metrics=metrics, ci_df=options.ci_df),
        paired_tests=tests,
        pairs=pairs,
        shap_slopes=slopes,
        shap_fits=fits,
        strength_bins=strength_bins(table),
        per_backbone=per_backbone(table, metrics=metrics),
        backbones=backbone_summary(table, metrics=metrics),
        notes=list(data.notes),
    )
    result.diversity = diversity_correlations(table, metrics=metrics)
    if not result.diversity.empty:
        result.diversity_shap = diversity_shap(table, metrics=metrics)
    skipped = sorted(set(options.metrics) - set(fits))
    if skipped:
        result.notes.append(f"no SHAP slopes for {', '.join(skipped)} (too few known values)")
    result.files = _write_tables(result)
    if options.figures:
        result.figures = _draw_figures(result, table)
    if options.curves and data.taps is not None:
        first = table.drop_duplicates("backbone")
        titles = {str(row["backbone"]): _curve_title(row) for _, row in first.iterrows()}
        result.curves = plot_run_curves(
            data.taps, out_dir / CURVES_DIR, options.curve_band, options.max_curves, titles
        )
    result.files["report"] = write_report(result)
    return result
