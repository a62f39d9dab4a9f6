"""The diversity hypothesis: does more diverse ID training input go with a weaker tunnel?

``id_diversity`` (a run variable: the Vendi score of the run's ID training inputs in a fixed
reference embedding) is a candidate variable beside the paper's eight. Over the runs of a source:

* :func:`diversity_correlations`: Spearman ρ (95 % CI by Fisher's z with Fieller et al.'s
  standard error √(1.06 / (n − 3))) and Pearson r of ``id_diversity`` with each metric (%
  retained, Pearson ρ, alignment), for the run means over the OOD sets and per OOD set; the same
  for the ID class count, the variable the hypothesis competes with;
* :func:`diversity_shap`: the SHAP slopes of a regressor fitted on the eight variables plus
  ``id_diversity`` (as in :mod:`tunnellab.analysis.shap_slopes`; the paper's eight-variable fit is
  left as it is).

Protocol: docs/protocol.md#input-diversity.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from tunnellab.analysis.shap_slopes import (
    MIN_ROWS,
    SHAP_VARIABLES,
    design_matrix,
    ordinal_codes,
    shap_slope,
    target,
    variable_values,
)
from tunnellab.analysis.table import METRICS

__all__ = [
    "DIVERSITY",
    "RIVALS",
    "SpearmanCI",
    "diversity_correlations",
    "diversity_section",
    "diversity_shap",
    "spearman_ci",
]

DIVERSITY = "id_diversity"
#: Variables correlated the same way, for comparison.
RIVALS: tuple[str, ...] = ("id_classes",)
ALL_OOD = "mean of OOD sets"
MIN_RUNS = 4  # Fisher's z needs n > 3
CORRELATION_COLUMNS = (
    "variable",
    "metric",
    "scope",
    "n",
    "spearman",
    "ci_low",
    "ci_high",
    "p",
    "pearson_r",
    "r2",
)


@dataclass(frozen=True)
class SpearmanCI:
    """Spearman's ρ of n pairs, its two-sided p and a Fisher-z confidence interval."""

    rho: float
    low: float
    high: float
    p: float
    n: int


def spearman_ci(x: Sequence[float], y: Sequence[float], confidence: float = 0.95) -> SpearmanCI:
    """Spearman ρ with a CI: tanh(atanh ρ ± z · √(1.06 / (n − 3))); NaN when undefined."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    n = int(x.size)
    if n < MIN_RUNS or np.ptp(x) == 0 or np.ptp(y) == 0:
        return SpearmanCI(math.nan, math.nan, math.nan, math.nan, n)
    rho, p = stats.spearmanr(x, y)
    rho = float(rho)
    half = stats.norm.ppf(0.5 + confidence / 2) * math.sqrt(1.06 / (n - 3))
    z = math.atanh(min(max(rho, -1 + 1e-12), 1 - 1e-12))
    return SpearmanCI(rho, math.tanh(z - half), math.tanh(z + half), float(p), n)


def _run_level(table: pd.DataFrame, metric: str, variable: str) -> pd.DataFrame:
    """Per backbone: the variable and the metric's mean over its OOD sets."""
    rows = table[["backbone", variable, metric]].dropna()
    return rows.groupby("backbone", sort=False).agg({variable: "first", metric: "mean"})


def _record(variable: str, metric: str, scope: str, x: pd.Series, y: pd.Series) -> dict:
    ci = spearman_ci(x, y)
    r = math.nan if math.isnan(ci.rho) else float(stats.pearsonr(x, y)[0])
    return {
        "variable": variable,
        "metric": metric,
        "scope": scope,
        "n": ci.n,
        "spearman": ci.rho,
        "ci_low": ci.low,
        "ci_high": ci.high,
        "p": ci.p,
        "pearson_r": r,
        "r2": r * r,
    }


def diversity_correlations(
    table: pd.DataFrame, metrics: Sequence[str] = METRICS, rivals: Sequence[str] = RIVALS
) -> pd.DataFrame:
    """ρ (with CI, p), Pearson r and r² of ``id_diversity`` and each rival with every metric.

    Scope ``mean of OOD sets``: one point per backbone (the metric averaged over its OOD sets);
    then one point per backbone for each OOD set. Empty when no row has ``id_diversity``.
    """
    if DIVERSITY not in table.columns or table[DIVERSITY].notna().sum() == 0:
        return pd.DataFrame(columns=CORRELATION_COLUMNS)
    known = table[table[DIVERSITY].notna()]
    records = []
    for variable in (DIVERSITY, *[r for r in rivals if r in known.columns]):
        for metric in metrics:
            if metric not in known.columns or known[metric].notna().sum() == 0:
                continue
            runs = _run_level(known, metric, variable)
            records.append(_record(variable, metric, ALL_OOD, runs[variable], runs[metric]))
            for dataset, rows in known.groupby("dataset", sort=False):
                runs = _run_level(rows, metric, variable)
                records.append(
                    _record(variable, metric, str(dataset), runs[variable], runs[metric])
                )
    return pd.DataFrame(records, columns=CORRELATION_COLUMNS)


def diversity_shap(table: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """``metric, variable, slope, r2``: SHAP slopes of the eight variables plus ``id_diversity``.

    ``id_diversity`` enters as the ordinal codes of its sorted distinct values, like the others,
    so its slope is the SHAP change from the least to the most diverse input. Metrics with fewer
    than ``MIN_ROWS`` known rows, or a table without ``id_diversity``, give no rows.
    """
    import shap
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.metrics import r2_score

    columns = ["metric", "variable", "slope", "r2"]
    if DIVERSITY not in table.columns:
        return pd.DataFrame(columns=columns)
    variables = (*SHAP_VARIABLES, DIVERSITY)
    records = []
    for metric in metrics:
        y = target(table, metric) if metric in table.columns else pd.Series(dtype=float)
        rows = table[y.notna() & table[DIVERSITY].notna()]
        if len(rows) < MIN_ROWS:
            continue
        y = y[rows.index]
        values = variable_values(rows).assign(**{DIVERSITY: rows[DIVERSITY].astype(float)})
        codes = ordinal_codes(values)
        x = design_matrix(values)
        model = GradientBoostingRegressor(loss="huber", random_state=0).fit(x, y)
        r2 = float(r2_score(y, model.predict(x)))
        raw = pd.DataFrame(np.asarray(shap.TreeExplainer(model).shap_values(x)), columns=x.columns)
        for variable in variables:
            parts = [c for c in x.columns if c == variable or c.startswith(f"{variable}=")]
            slope = shap_slope(raw[parts].sum(axis=1), codes[variable])
            records.append({"metric": metric, "variable": variable, "slope": slope, "r2": r2})
    return pd.DataFrame(records, columns=columns)


def _fmt(value: float, spec: str) -> str:
    return "—" if pd.isna(value) else format(value, spec)


def diversity_section(
    correlations: pd.DataFrame, shap_frame: pd.DataFrame, to_markdown: Callable[..., str]
) -> list[str]:
    """The report's ``id_diversity`` section (``to_markdown``: the report's table writer)."""
    if correlations.empty:
        return []
    shown = correlations.assign(
        spearman=[
            f"{_fmt(r, '+.2f')} [{_fmt(lo, '+.2f')}, {_fmt(hi, '+.2f')}]"
            for r, lo, hi in zip(
                correlations["spearman"],
                correlations["ci_low"],
                correlations["ci_high"],
                strict=True,
            )
        ]
    ).rename(columns={"spearman": "Spearman ρ [95% CI]"})
    shown = shown.drop(columns=["ci_low", "ci_high"])
    parts = [
        "## Input diversity (`id_diversity`)",
        "The Vendi score of each run's ID training inputs in the fixed reference embedding "
        "(32² ImageNet-standardised pixels, cosine kernel, 2,048 seeded images; augmented runs: "
        "their first-epoch crops), against each metric over the runs (one point per backbone; "
        "first the metric averaged over its OOD sets, then per OOD set). CI: Fisher's z with "
        "SE √(1.06 / (n − 3)). The ID class count is correlated the same way for comparison; "
        "r² is the variance a straight line on the variable explains (`diversity.csv`).",
        to_markdown(shown, ".3g"),
    ]
    if not shap_frame.empty:
        wide = shap_frame.pivot(index="variable", columns="metric", values="slope")
        wide = wide.reindex([v for v in (*SHAP_VARIABLES, DIVERSITY) if v in wide.index])
        r2 = shap_frame.groupby("metric")["r2"].first()
        parts += [
            "SHAP slopes of a regressor fitted on the paper's eight variables plus "
            "`id_diversity` (its ordinal codes; the paper's eight-variable fit above is "
            "unchanged; `diversity_shap.csv`). In-sample R²: "
            + ", ".join(f"{m} {v:.3f}" for m, v in r2.items())
            + ".",
            to_markdown(wide.reset_index(), "+.3f"),
        ]
    return parts
