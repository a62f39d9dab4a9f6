"""SHAP slopes: the slope by hand, the design matrix, a known effect, the paper's signs and
published values, and the raw-first figure and summary."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tunnellab.analysis.figures import shap_slopes_figure
from tunnellab.analysis.report import shap_summary_lines
from tunnellab.analysis.shap_slopes import (
    SHAP_VARIABLES,
    design_matrix,
    fit_shap,
    shap_slope,
    shap_slopes,
    variable_values,
)
from tunnellab.analysis.table import AnalysisError


@pytest.fixture(scope="module")
def paper_slopes(paper_table):
    return shap_slopes(paper_table)


def test_slope_is_against_code_over_largest_code():
    assert shap_slope([0.0, 1.0, 2.0], [0, 1, 2]) == pytest.approx(2.0)  # x = 0, 0.5, 1
    assert shap_slope([0.3, -0.1], [0, 1]) == pytest.approx(-0.4)
    assert shap_slope([5.0, 1.0, 3.0, 3.0], [0, 2, 1, 1]) == pytest.approx(-4.0)
    assert math.isnan(shap_slope([0.1, 0.2], [0, 0]))


def test_design_matrix_codes_and_one_hot(study):
    values = variable_values(study)
    assert list(values.columns) == list(SHAP_VARIABLES)
    assert set(values["augmentation"]) == {0, 1}
    x = design_matrix(values)
    assert list(x.columns[:7]) == list(SHAP_VARIABLES[:7])  # ordinal columns first
    assert list(x.columns[7:]) == ["cnn_vs_vit=CNN"]  # one level, one column
    assert sorted(x["depth"].unique()) == [0.0, 1.0]  # codes of 11 and 17
    assert sorted(x["resolution"].unique()) == [0.0, 1.0]


def test_known_effect_and_additivity(study):
    fit = fit_shap(study, "retained")
    # retained: +10 points with augmentation, +5 at 224², −8 at depth 17 (targets / 100).
    assert fit.slopes["augmentation"] == pytest.approx(0.10, abs=0.01)
    assert fit.slopes["resolution"] == pytest.approx(0.05, abs=0.01)
    # Depth and γ move together here (VGGm-11 vs VGGm-17): the trees share the effect.
    assert fit.slopes["depth"] + fit.slopes["overparam"] == pytest.approx(-0.08, abs=0.01)
    for constant in ("stem", "spatial_reduction", "id_classes", "cnn_vs_vit"):
        assert math.isnan(fit.slopes[constant])
    assert fit.r2 > 0.9  # the OOD-dataset offsets are not an input
    offset = fit.prediction - fit.shap.sum(axis=1)  # base value, the same for every row
    assert np.ptp(offset.to_numpy()) < 1e-9
    assert np.nansum(np.abs(fit.slopes_l1)) == pytest.approx(1.0)


def test_metrics_without_values_are_skipped(study):
    table = study.assign(alignment=np.nan)
    slopes, fits = shap_slopes(table)
    assert set(fits) == {"retained", "pearson"}
    assert set(slopes["metric"]) == {"retained", "pearson"}
    with pytest.raises(AnalysisError, match="at least"):
        fit_shap(study.head(4), "retained")
    with pytest.raises(AnalysisError, match="Unknown metric"):
        fit_shap(study, "accuracy")


def test_paper_file_slopes(paper_slopes):
    slopes, fits = paper_slopes
    assert set(fits) == {"retained", "pearson", "alignment"}
    assert len(slopes) == 3 * 8
    retained = slopes[slopes["metric"] == "retained"].set_index("variable")
    # The paper's directions: more classes, augmentation, resolution → less tunnel;
    # deeper and more over-parameterised → more tunnel.
    for variable in ("id_classes", "augmentation", "resolution"):
        assert retained.at[variable, "slope"] > 0.03, variable
    for variable in ("depth", "overparam"):
        assert retained.at[variable, "slope"] < -0.03, variable
    assert retained["slope"].abs().idxmax() == "id_classes"
    for metric, fit in fits.items():
        assert 0.3 < fit.r2 < 0.95, metric
        l1 = slopes.loc[slopes["metric"] == metric, "slope_l1"]
        assert l1.abs().sum() == pytest.approx(1.0)


def test_slopes_frame_columns(paper_slopes):
    slopes, _ = paper_slopes
    assert list(slopes.columns) == ["metric", "variable", "slope", "slope_l1", "r2"]
    assert isinstance(slopes, pd.DataFrame)


# -- what a reader comparing with the paper sees: raw slopes first ------------------------------

#: The published SHAP slopes the released CSV must give (raw: the released script's quantity).
PUBLISHED = {("retained", "id_classes"): 0.41, ("pearson", "id_classes"): 0.45}
PUBLISHED_ALIGNMENT = ("alignment", "resolution", 0.16)


def _bar_labels(fig, panel: int) -> dict[str, str]:
    """Tick label → value text of one panel of the SHAP-slope figure (panels share the y axis)."""
    names = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    values = sorted(fig.axes[panel].texts, key=lambda t: t.get_position()[1])
    return dict(zip(names, (t.get_text() for t in values), strict=True))


def test_paper_slopes_match_the_published_figure(paper_slopes):
    slopes, _ = paper_slopes
    raw = slopes.set_index(["metric", "variable"])["slope"]
    for key, value in PUBLISHED.items():
        assert round(raw[key], 2) == value, key
    metric, variable, value = PUBLISHED_ALIGNMENT
    assert round(raw[(metric, variable)], 2) == value
    # The L1-normalised numbers differ: a reader comparing with the figure would be misled.
    l1 = slopes.set_index(["metric", "variable"])["slope_l1"]
    assert round(l1[("retained", "id_classes")], 2) == 0.43
    assert round(l1[("alignment", "resolution")], 2) == 0.32


def test_summary_leads_with_raw_slopes(paper_slopes):
    slopes, _ = paper_slopes
    lines = shap_summary_lines(slopes)
    assert [line.split()[1] for line in lines] == ["retained", "pearson", "alignment"]
    assert lines[0].split(": ", 1)[1].startswith("id_classes +0.41,")
    assert lines[1].split(": ", 1)[1].startswith("id_classes +0.45,")
    assert lines[2].split(": ", 1)[1].startswith("resolution +0.16,")
    assert all(line.lstrip().startswith("raw ") for line in lines)
    l1 = shap_summary_lines(slopes, "slope_l1")
    assert l1[0].lstrip().startswith("L1-normalised retained")
    assert l1[0].split(": ", 1)[1].startswith("id_classes +0.43,")


def test_figure_shows_raw_slopes_unless_asked(paper_slopes):
    slopes, _ = paper_slopes
    fig = shap_slopes_figure(slopes)
    assert _bar_labels(fig, 0)["ID class count"] == "+0.41"
    assert _bar_labels(fig, 1)["ID class count"] == "+0.45"
    assert _bar_labels(fig, 2)["Resolution"] == "+0.16"
    assert fig.axes[0].get_xlabel() == "SHAP slope (raw)"
    assert "SHAP-slope figure" in fig.get_suptitle()
    l1 = shap_slopes_figure(slopes, normalised=True)
    assert _bar_labels(l1, 0)["ID class count"] == "+0.43"
    assert "L1-normalised" in l1.axes[0].get_xlabel()
    assert "L1-normalised" in l1.get_suptitle()
