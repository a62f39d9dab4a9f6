"""What one analysis of many runs is asked to do (:class:`AnalysisOptions`) and what it produced
(:class:`AnalysisResult`): shared by :mod:`~tunnellab.analysis.study` and
:mod:`~tunnellab.analysis.report`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tunnellab.analysis.curves import CURVE_BANDS
from tunnellab.analysis.run_sources import SourceData
from tunnellab.analysis.shap_slopes import ShapFit
from tunnellab.analysis.stats import CI_DFS
from tunnellab.analysis.table import METRICS


@dataclass
class AnalysisOptions:
    """What an analysis computes and draws."""

    ci_df: str = "n-1"  # t degrees of freedom of the CIs: "n-1", or "n" as the paper's tables
    normalise: bool = False  # also L1-normalised SHAP slopes (a second figure, summary lines)
    figures: bool = True
    curves: bool = True  # per-run curve figures, when per-tap rows exist
    curve_band: str = "std"  # band of the mean OOD curve: "std" or "ci"
    max_curves: int = 100
    metrics: tuple[str, ...] = METRICS

    def __post_init__(self) -> None:
        if self.ci_df not in CI_DFS:
            raise ValueError(f"ci_df must be one of {CI_DFS}, got {self.ci_df!r}")
        if self.curve_band not in CURVE_BANDS:
            raise ValueError(f"curve_band must be one of {CURVE_BANDS}, got {self.curve_band!r}")


@dataclass
class AnalysisResult:
    """Everything an analysis produced, in memory and on disk."""

    out_dir: Path
    source: SourceData
    options: AnalysisOptions
    group_means: pd.DataFrame
    paired_tests: pd.DataFrame
    pairs: pd.DataFrame
    shap_slopes: pd.DataFrame
    shap_fits: dict[str, ShapFit]
    strength_bins: pd.DataFrame
    per_backbone: pd.DataFrame
    backbones: pd.DataFrame
    files: dict[str, Path] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    curves: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # id_diversity against the metrics (analysis.input_diversity); empty without the column
    diversity: pd.DataFrame = field(default_factory=pd.DataFrame)
    diversity_shap: pd.DataFrame = field(default_factory=pd.DataFrame)
