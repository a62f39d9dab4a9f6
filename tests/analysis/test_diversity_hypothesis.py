"""id_diversity as a candidate variable: correlations against scipy, SHAP slope, report section."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tunnellab.analysis.input_diversity import (
    ALL_OOD,
    diversity_correlations,
    diversity_shap,
    spearman_ci,
)
from tunnellab.analysis.load import load_source
from tunnellab.analysis.study import AnalysisOptions, analyze


@pytest.fixture
def with_diversity(study: pd.DataFrame) -> pd.DataFrame:
    """The synthetic study with a per-backbone id_diversity that is not monotone in retained."""
    backbones = list(dict.fromkeys(study["backbone"]))
    values = dict(zip(backbones, [12.0, 30.0, 18.0, 25.0, 9.0, 40.0, 22.0, 15.0], strict=True))
    return study.assign(id_diversity=study["backbone"].map(values))


def test_spearman_matches_scipy_and_the_fisher_interval():
    x, y = [1.0, 4.0, 2.0, 8.0, 5.0, 7.0, 3.0], [0.3, 0.9, 0.1, 0.7, 0.8, 0.6, 0.2]
    ci = spearman_ci(x, y)
    rho, p = stats.spearmanr(x, y)
    assert (ci.rho, ci.p, ci.n) == (pytest.approx(rho), pytest.approx(p), 7)
    half = 1.959963984540054 * math.sqrt(1.06 / 4)
    assert ci.low == pytest.approx(math.tanh(math.atanh(rho) - half))
    assert ci.high == pytest.approx(math.tanh(math.atanh(rho) + half))
    assert math.isnan(spearman_ci([1, 2, 3], [3, 2, 1]).rho)  # n ≤ 3: no interval
    assert math.isnan(spearman_ci([1, 1, 1, 1], [1, 2, 3, 4]).rho)  # constant


def test_correlations_over_runs_match_scipy(with_diversity):
    out = diversity_correlations(with_diversity)
    runs = with_diversity.groupby("backbone", sort=False).agg(
        diversity=("id_diversity", "first"), retained=("retained", "mean")
    )
    row = out[
        (out["variable"] == "id_diversity")
        & (out["metric"] == "retained")
        & (out["scope"] == ALL_OOD)
    ]
    assert row["n"].item() == 8
    assert row["spearman"].item() == pytest.approx(
        stats.spearmanr(runs["diversity"], runs["retained"])[0]
    )
    r = np.corrcoef(runs["diversity"], runs["retained"])[0, 1]
    assert row["pearson_r"].item() == pytest.approx(r) and row["r2"].item() == pytest.approx(r * r)
    digits = with_diversity[with_diversity["dataset"] == "digits"]
    per_set = out.query(
        "variable == 'id_diversity' and metric == 'alignment' and scope == 'digits'"
    )
    assert per_set["spearman"].item() == pytest.approx(
        stats.spearmanr(digits["id_diversity"], digits["alignment"])[0]
    )
    assert set(out["metric"]) == {"retained", "pearson", "alignment"}
    classes = out[out["variable"] == "id_classes"]  # one class count here: undefined, not 0
    assert len(classes) and classes["spearman"].isna().all()
    assert diversity_correlations(with_diversity.drop(columns="id_diversity")).empty


def test_shap_slope_beside_the_eight_and_the_report(with_diversity, tmp_path):
    slopes = diversity_shap(with_diversity, metrics=("retained",))
    assert len(slopes) == 9 and slopes["variable"].iloc[-1] == "id_diversity"
    assert np.isfinite(slopes.set_index("variable").loc["id_diversity", "slope"])
    with_diversity.to_csv(tmp_path / "runs.csv", index=False)
    options = AnalysisOptions(figures=False, curves=False)
    result = analyze(load_source(str(tmp_path / "runs.csv")), tmp_path / "out", options)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Input diversity (`id_diversity`)" in report
    assert (tmp_path / "out" / "diversity.csv").is_file() and not result.diversity_shap.empty
