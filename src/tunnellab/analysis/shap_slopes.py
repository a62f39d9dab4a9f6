"""SHAP slopes: how each pretraining variable pushes a tunnel metric up or down.

A ``GradientBoostingRegressor(loss='huber', random_state=0)`` is fitted on every row of the eight
variables; ``shap.TreeExplainer`` gives each row's SHAP value per input column, and the two
one-hot columns of CNN vs ViT are summed back into one variable. A variable's *SHAP slope* is
the slope of the least-squares line of its SHAP values against its ordinal code divided by the
largest code (so the slope is the SHAP change from the lowest to the highest level). The paper
says slopes are then L1-normalised over the variables; the released script does not: both are
returned. Targets: ``retained / 100``, ``pearson``, ``alignment``. Protocol:
docs/protocol.md#statistics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tunnellab.analysis.table import METRICS, NO_AUGMENTATION, AnalysisError

#: The eight variables, in the column order of the released script's design matrix
#: (ordinal columns first, then the CNN-vs-ViT one-hot columns).
SHAP_VARIABLES: tuple[str, ...] = (
    "stem",
    "spatial_reduction",
    "augmentation",
    "resolution",
    "id_classes",
    "overparam",
    "depth",
    "cnn_vs_vit",
)
ONE_HOT: tuple[str, ...] = ("cnn_vs_vit",)
SHAP_LABELS: dict[str, str] = {
    "stem": "Stem",
    "spatial_reduction": "Spatial reduction",
    "augmentation": "Augmentation",
    "resolution": "Resolution",
    "id_classes": "ID class count",
    "overparam": "Over-parameterisation",
    "depth": "Depth",
    "cnn_vs_vit": "CNN vs ViT (ViT = 1)",
}
MIN_ROWS = 8


@dataclass
class ShapFit:
    """The regressor's SHAP values for one metric and the slopes derived from them."""

    metric: str
    codes: pd.DataFrame  # ordinal code per variable and row
    shap: pd.DataFrame  # SHAP value per variable and row (one-hot columns summed)
    r2: float  # in-sample R² of the regressor
    slopes: pd.Series  # raw SHAP slope per variable (NaN for a constant variable)
    prediction: pd.Series  # the regressor's in-sample prediction (= base value + row's SHAP sum)

    @property
    def slopes_l1(self) -> pd.Series:
        """Slopes divided by the sum of their absolute values (constant variables count 0)."""
        total = float(np.nansum(np.abs(self.slopes.to_numpy())))
        return self.slopes / total if total > 0 else self.slopes * math.nan


def target(table: pd.DataFrame, metric: str) -> pd.Series:
    """The regression target of a metric: % retained becomes a fraction, others stay."""
    if metric not in METRICS:
        raise AnalysisError(f"Unknown metric {metric!r}; use one of {', '.join(METRICS)}.")
    values = table[metric].astype(float)
    return values / 100.0 if metric == "retained" else values


def variable_values(table: pd.DataFrame) -> pd.DataFrame:
    """The eight variables per row; augmentation is 0 (none) or 1 (any augmentation)."""
    missing = [v for v in SHAP_VARIABLES if v not in table.columns and v != "augmentation"]
    if missing or "augmentation" not in table.columns:
        raise AnalysisError(f"SHAP needs the columns {', '.join(SHAP_VARIABLES)}.")
    values = table[list(SHAP_VARIABLES)].copy()
    values["augmentation"] = (table["augmentation"].astype(str) != NO_AUGMENTATION).astype(int)
    return values


def ordinal_codes(values: pd.DataFrame) -> pd.DataFrame:
    """Each variable as codes 0..k−1 of its sorted distinct values."""
    return pd.DataFrame(
        {c: pd.factorize(values[c], sort=True)[0] for c in values.columns}, index=values.index
    )


def design_matrix(values: pd.DataFrame) -> pd.DataFrame:
    """Ordinal codes for the ordinal variables, then one-hot columns for the categorical ones."""
    codes = ordinal_codes(values)
    ordinal = [c for c in values.columns if c not in ONE_HOT]
    parts = [codes[ordinal].astype(float)]
    for column in ONE_HOT:
        for level in sorted(values[column].unique(), key=str):
            parts.append(
                (values[column] == level).astype(float).rename(f"{column}={level}").to_frame()
            )
    return pd.concat(parts, axis=1)


def shap_slope(shap_values: Sequence[float], codes: Sequence[int]) -> float:
    """Least-squares slope of SHAP values against ``code / max(code)``; NaN if constant."""
    x = np.asarray(codes, dtype=float)
    y = np.asarray(shap_values, dtype=float)
    top = x.max() if x.size else 0.0
    if top <= 0:
        return math.nan
    x = x / top
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc * xc).sum())


def fit_shap(table: pd.DataFrame, metric: str) -> ShapFit:
    """Fit the regressor on the rows where ``metric`` is known and derive the SHAP slopes."""
    import shap
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.metrics import r2_score

    y = target(table, metric)
    rows = table[y.notna()]
    y = y[y.notna()]
    if len(rows) < MIN_ROWS:
        raise AnalysisError(
            f"SHAP slopes of {metric} need at least {MIN_ROWS} rows with a value, got {len(rows)}."
        )
    values = variable_values(rows)
    codes = ordinal_codes(values)
    x = design_matrix(values)
    model = GradientBoostingRegressor(loss="huber", random_state=0).fit(x, y)
    prediction = pd.Series(model.predict(x), index=rows.index, name=metric)
    r2 = float(r2_score(y, prediction))
    raw = np.asarray(shap.TreeExplainer(model).shap_values(x))
    per_column = pd.DataFrame(raw, columns=x.columns, index=rows.index)
    summed = {}
    for variable in SHAP_VARIABLES:
        columns = [c for c in x.columns if c == variable or c.startswith(f"{variable}=")]
        summed[variable] = per_column[columns].sum(axis=1)
    shap_frame = pd.DataFrame(summed, index=rows.index)
    slopes = pd.Series(
        {v: shap_slope(shap_frame[v], codes[v]) for v in SHAP_VARIABLES}, name=metric
    )
    return ShapFit(
        metric=metric, codes=codes, shap=shap_frame, r2=r2, slopes=slopes, prediction=prediction
    )


def shap_slopes(
    table: pd.DataFrame, metrics: Sequence[str] = METRICS
) -> tuple[pd.DataFrame, dict[str, ShapFit]]:
    """``metric, variable, slope, slope_l1, r2`` for every metric, and the fits themselves.

    A metric without enough known rows is skipped (it is absent from the result).
    """
    fits: dict[str, ShapFit] = {}
    records = []
    for metric in metrics:
        if table[metric].notna().sum() < MIN_ROWS:
            continue
        fit = fit_shap(table, metric)
        fits[metric] = fit
        l1 = fit.slopes_l1
        for variable in SHAP_VARIABLES:
            records.append(
                {
                    "metric": metric,
                    "variable": variable,
                    "slope": float(fit.slopes[variable]),
                    "slope_l1": float(l1[variable]),
                    "r2": fit.r2,
                }
            )
    columns = ["metric", "variable", "slope", "slope_l1", "r2"]
    return pd.DataFrame(records, columns=columns), fits
