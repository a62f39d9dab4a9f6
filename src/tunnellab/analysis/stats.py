"""The paper's statistics over the tidy table: group means with CIs, paired tests, effect sizes.

Statistics follow the paper's protocol. The one choice that decides the paired tests is made
explicit here: for a compared variable, two rows are paired when they agree on the OOD dataset
and on every other variable (:data:`MATCH_COLUMNS`), except the variables that necessarily change
with it (:attr:`Comparison.linked`: a deeper model has more parameters, another ID dataset has
another training-set size, ...). When a match holds several rows at both levels (two VGGm depths
against two ResNet depths when comparing stems) they are paired in order of depth, then
over-parameterisation, if both levels hold the same number of rows; otherwise that match is
ambiguous, left out and counted (``n_unpaired``). Every pair is returned by :func:`pair_rows`.
"""

from __future__ import annotations

import math
import warnings
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

from tunnellab.analysis.table import (
    CONTEXT,
    METRICS,
    RUN_VARIABLES,
    AnalysisError,
    natural_key,
    sorted_levels,
)
from tunnellab.metrics.tunnel import STRENGTH_BINS, tunnel_strength

CI_DFS = ("n-1", "n")
#: Cliff's δ magnitude labels: (label, upper bound of |δ|), checked in order.
CLIFF_MAGNITUDES: tuple[tuple[str, float], ...] = (
    ("negligible", 0.147),
    ("small", 0.33),
    ("medium", 0.474),
    ("large", math.inf),
)
#: Columns the analysis derives from the run variables that pairs also match on.
MATCHED_DERIVED: tuple[str, ...] = ("arch", "cnn_vs_vit", "classes_samples")
#: Everything a pair must agree on, unless it is the compared variable or linked to it.
MATCH_COLUMNS: tuple[str, ...] = (*RUN_VARIABLES, *MATCHED_DERIVED, *CONTEXT, "dataset")
#: Rows of one match with several rows per level are paired in this order.
PAIR_ORDER: tuple[str, ...] = ("depth", "overparam")

_ARCH = ("model", "arch", "cnn_vs_vit", "stem", "spatial_reduction", "depth", "overparam")


@dataclass(frozen=True)
class Comparison:
    """One variable whose levels are compared, and the variables that change along with it."""

    variable: str
    column: str
    linked: tuple[str, ...] = ()
    paired: bool = True  # False: its pairs would repeat another comparison's
    decimals: int | None = None  # round numeric levels (e.g. over-parameterisation)
    label: str = ""  # how figures and reports name it

    @property
    def title(self) -> str:
        """The display name of the variable."""
        return self.label or self.variable.replace("_", " ")


def _arch_linked(column: str) -> tuple[str, ...]:
    return tuple(c for c in _ARCH if c != column)


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("resolution", "resolution", label="resolution (px)"),
    Comparison("augmentation", "augmentation"),
    Comparison("stem", "stem", _arch_linked("stem"), label="stem (kernel size)"),
    Comparison("architecture", "arch", _arch_linked("arch")),
    Comparison(
        "spatial_reduction",
        "spatial_reduction",
        ("model", "arch", "overparam"),
        label="spatial reduction φ of the stem stage",
    ),
    Comparison("depth", "depth", ("model", "overparam")),
    Comparison(
        "overparam",
        "overparam",
        ("model", "depth"),
        paired=False,
        decimals=2,
        label="over-parameterisation γ",
    ),
    Comparison(
        "id_dataset",
        "id_dataset",
        ("overparam", "id_classes", "classes_samples"),
        label="ID dataset",
    ),
    Comparison(
        "classes_samples",
        "classes_samples",
        ("id_classes", "samples_per_class", "overparam"),
        label="ID classes × samples per class",
    ),
)


@dataclass(frozen=True)
class MeanCI:
    """Mean of ``n`` values with its two-sided confidence interval."""

    n: int
    mean: float
    ci_low: float
    ci_high: float


def mean_ci(values: Sequence[float], ci_df: str = "n-1", confidence: float = 0.95) -> MeanCI:
    """Mean ± t · SEM (SEM with ddof 1), t on ``n − 1`` or, for the paper's tables, ``n`` df.

    NaN values are dropped; fewer than two values give a NaN interval.
    """
    if ci_df not in CI_DFS:
        raise ValueError(f"ci_df must be one of {CI_DFS}, got {ci_df!r}")
    a = np.asarray(values, dtype=float)
    a = a[~np.isnan(a)]
    n = int(a.size)
    if n == 0:
        return MeanCI(0, math.nan, math.nan, math.nan)
    mean = float(a.mean())
    if n < 2:
        return MeanCI(n, mean, math.nan, math.nan)
    sem = float(a.std(ddof=1) / math.sqrt(n))
    dof = n - 1 if ci_df == "n-1" else n
    half = float(stats.t.ppf(0.5 + confidence / 2, dof)) * sem
    return MeanCI(n, mean, mean - half, mean + half)


def cliffs_delta(x: Sequence[float], y: Sequence[float]) -> float:
    """Cliff's δ = P(x > y) − P(x < y) over all (x_i, y_j); positive when x tends to be larger."""
    xa = np.asarray(x, dtype=float)
    ya = np.asarray(y, dtype=float)
    if xa.size == 0 or ya.size == 0:
        return math.nan
    return float(np.sign(xa[:, None] - ya[None, :]).mean())


def cliffs_magnitude(delta: float) -> str:
    """negligible (|δ| < 0.147), small (< 0.33), medium (< 0.474) or large; '' for NaN."""
    if math.isnan(delta):
        return ""
    for label, bound in CLIFF_MAGNITUDES:
        if abs(delta) < bound:
            return label
    return CLIFF_MAGNITUDES[-1][0]  # pragma: no cover


def wilcoxon_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided paired Wilcoxon signed-rank p-value of ``b − a`` (scipy's defaults: zero
    differences dropped, exact distribution for small samples without ties).

    NaN when no pair differs.
    """
    aa = np.asarray(a, dtype=float)
    ba = np.asarray(b, dtype=float)
    if aa.shape != ba.shape:
        raise ValueError(f"paired samples differ in length: {aa.size} and {ba.size}")
    if np.count_nonzero(ba - aa) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(stats.wilcoxon(ba, aa).pvalue)


def level_series(table: pd.DataFrame, comparison: Comparison) -> pd.Series:
    """The compared level of every row (rounded when the comparison asks for it)."""
    if comparison.column not in table.columns:
        raise AnalysisError(f"The table has no column {comparison.column!r}.")
    levels = table[comparison.column]
    if comparison.decimals is not None:
        levels = levels.astype(float).round(comparison.decimals)
    return levels


def match_columns(table: pd.DataFrame, comparison: Comparison) -> list[str]:
    """The columns two rows must agree on to be compared along ``comparison``."""
    skip = {comparison.column, *comparison.linked}
    return [c for c in MATCH_COLUMNS if c in table.columns and c not in skip]


def _matches(
    table: pd.DataFrame, comparison: Comparison
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(row positions, their levels) of every match that holds at least two levels."""
    levels = level_series(table, comparison).to_numpy(dtype=object)
    valid = np.flatnonzero(pd.notna(levels))
    keys = table.iloc[valid][match_columns(table, comparison)]
    group = keys.groupby(list(keys.columns), dropna=False, sort=False).ngroup().to_numpy()
    order = np.argsort(group, kind="stable")
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    for members in np.split(valid[order], bounds):
        member_levels = levels[members]
        if len(set(member_levels)) >= 2:
            yield members, member_levels


def matched_scope(table: pd.DataFrame, comparison: Comparison) -> pd.Series:
    """True for rows whose match holds at least two levels of the compared variable."""
    mask = np.zeros(len(table), dtype=bool)
    for members, _ in _matches(table, comparison):
        mask[members] = True
    return pd.Series(mask, index=table.index)


def pair_rows(table: pd.DataFrame, comparison: Comparison) -> tuple[pd.DataFrame, Counter]:
    """Every pair for ``comparison`` and, per (level_a, level_b), the ambiguous matches left out.

    The pairs frame has ``variable, level_a, level_b, dataset, backbone_a, backbone_b, row_a,
    row_b`` (row labels of ``table``); ``level_a`` sorts before ``level_b``.
    """
    order = [c for c in PAIR_ORDER if c in table.columns]
    rank = np.empty(len(table), dtype=int)  # position of each row in (depth, γ) order
    rank[np.lexsort([table[c].to_numpy() for c in reversed(order)])] = np.arange(len(table))
    found: list[tuple[object, object, np.ndarray, np.ndarray]] = []
    unpaired: Counter = Counter()
    for members, levels in _matches(table, comparison):
        for a, b in combinations(sorted_levels(levels), 2):
            rows_a, rows_b = members[levels == a], members[levels == b]
            if len(rows_a) != len(rows_b):
                unpaired[(a, b)] += 1
                continue
            rows_a = rows_a[np.argsort(rank[rows_a], kind="stable")]
            rows_b = rows_b[np.argsort(rank[rows_b], kind="stable")]
            found.append((a, b, rows_a, rows_b))
    pos_a = np.concatenate([f[2] for f in found]) if found else np.zeros(0, dtype=int)
    pos_b = np.concatenate([f[3] for f in found]) if found else np.zeros(0, dtype=int)
    pairs = pd.DataFrame(
        {
            "variable": comparison.variable,
            "level_a": [f[0] for f in found for _ in f[2]],
            "level_b": [f[1] for f in found for _ in f[2]],
            "dataset": table["dataset"].to_numpy()[pos_a],
            "backbone_a": table["backbone"].to_numpy()[pos_a],
            "backbone_b": table["backbone"].to_numpy()[pos_b],
            "row_a": table.index.to_numpy()[pos_a],
            "row_b": table.index.to_numpy()[pos_b],
        }
    )
    return pairs, unpaired


def paired_tests(
    table: pd.DataFrame,
    comparisons: Sequence[Comparison] = COMPARISONS,
    metrics: Sequence[str] = METRICS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Wilcoxon signed-rank p and Cliff's δ (level_b vs level_a) per level pair and metric.

    Returns ``(tests, pairs)``: ``tests`` has ``variable, level_a, level_b, metric, n_pairs,
    wilcoxon_p, cliffs_delta, magnitude, mean_a, mean_b, n_unpaired``; ``pairs`` lists every
    pair with both rows' metric values.
    """
    tests = []
    all_pairs = []
    for comparison in comparisons:
        if not comparison.paired:
            continue
        pairs, unpaired = pair_rows(table, comparison)
        for metric in metrics:
            pairs[f"{metric}_a"] = table.loc[pairs["row_a"], metric].to_numpy()
            pairs[f"{metric}_b"] = table.loc[pairs["row_b"], metric].to_numpy()
        all_pairs.append(pairs)
        level_pairs = {*zip(pairs["level_a"], pairs["level_b"], strict=True), *unpaired}
        for a, b in sorted(level_pairs, key=lambda p: (natural_key(p[0]), natural_key(p[1]))):
            sel = pairs[(pairs["level_a"] == a) & (pairs["level_b"] == b)]
            for metric in metrics:
                both = sel[[f"{metric}_a", f"{metric}_b"]].dropna()
                va, vb = both[f"{metric}_a"].to_numpy(), both[f"{metric}_b"].to_numpy()
                delta = cliffs_delta(vb, va)
                tests.append(
                    {
                        "variable": comparison.variable,
                        "level_a": a,
                        "level_b": b,
                        "metric": metric,
                        "n_pairs": len(both),
                        "wilcoxon_p": wilcoxon_p(va, vb) if len(both) else math.nan,
                        "cliffs_delta": delta,
                        "magnitude": cliffs_magnitude(delta),
                        "mean_a": float(va.mean()) if len(va) else math.nan,
                        "mean_b": float(vb.mean()) if len(vb) else math.nan,
                        "n_unpaired": unpaired.get((a, b), 0),
                    }
                )
    pairs_frame = pd.concat(all_pairs, ignore_index=True) if all_pairs else pd.DataFrame()
    return pd.DataFrame(tests), pairs_frame


def group_means(
    table: pd.DataFrame,
    comparisons: Sequence[Comparison] = COMPARISONS,
    metrics: Sequence[str] = METRICS,
    ci_df: str = "n-1",
) -> pd.DataFrame:
    """Mean and 95% CI per variable level and metric, over the rows of matched settings.

    Only rows whose match (:func:`matched_scope`) holds two or more levels count, so each
    level's mean is taken over settings where the variable was actually varied.
    """
    records = []
    for comparison in comparisons:
        scope = table[matched_scope(table, comparison)]
        levels = level_series(scope, comparison)
        for level in sorted_levels(levels):
            rows = scope[levels == level]
            for metric in metrics:
                ci = mean_ci(rows[metric].to_numpy(), ci_df=ci_df)
                records.append(
                    {
                        "variable": comparison.variable,
                        "level": level,
                        "metric": metric,
                        "n": ci.n,
                        "mean": ci.mean,
                        "ci_low": ci.ci_low,
                        "ci_high": ci.ci_high,
                        "n_backbones": rows["backbone"].nunique(),
                    }
                )
    columns = ["variable", "level", "metric", "n", "mean", "ci_low", "ci_high", "n_backbones"]
    return pd.DataFrame(records, columns=columns)


def backbone_summary(table: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """One row per backbone: its variables, the mean of each metric over its OOD datasets and
    the tunnel strength of its mean % retained."""
    variables = [
        c
        for c in (
            "backbone",
            "model",
            "model_label",
            "arch",
            "resolution",
            "augmentation",
            "id_dataset",
            "classes_samples",
            "depth",
            "overparam",
            "seed",
        )
        if c in table.columns
    ]
    means = table.groupby("backbone", sort=False)[list(metrics)].mean()
    counts = table.groupby("backbone", sort=False)["dataset"].nunique().rename("n_ood")
    out = table.drop_duplicates("backbone")[variables].set_index("backbone")
    out = out.join(counts).join(means.add_prefix("mean_")).reset_index()
    out["strength"] = [
        tunnel_strength(r) if not math.isnan(r) else "" for r in out["mean_retained"]
    ]
    return out


def strength_bins(table: pd.DataFrame) -> pd.DataFrame:
    """How many backbones fall in each tunnel-strength bin (mean % retained over OOD sets)."""
    summary = backbone_summary(table, metrics=("retained",))
    counts = summary["strength"].value_counts()
    return pd.DataFrame(
        {
            "bin": [b for b, _ in STRENGTH_BINS],
            "count": [int(counts.get(b, 0)) for b, _ in STRENGTH_BINS],
        }
    )


def per_backbone(table: pd.DataFrame, metrics: Sequence[str] = METRICS) -> pd.DataFrame:
    """One row per backbone × OOD dataset × metric (the paper's Tables 5–7, long format)."""
    ids = [
        c
        for c in (
            "backbone",
            "model_label",
            "arch",
            "id_dataset",
            "resolution",
            "augmentation",
            "classes_samples",
            "seed",
            "dataset",
        )
        if c in table.columns
    ]
    long = table[ids + list(metrics)].melt(
        id_vars=ids, value_vars=list(metrics), var_name="metric", value_name="value"
    )
    order = {m: i for i, m in enumerate(metrics)}
    long["_m"] = long["metric"].map(order)
    long["_row"] = np.tile(np.arange(len(table)), len(metrics))
    return long.sort_values(["_m", "_row"], kind="stable").drop(columns=["_m", "_row"])
