"""The advisor's training-free layer scores, and how well each one ranked the layers.

Every tap is scored first (:func:`tunnellab.probe.scores.score_taps` on the cached training
features); in the fast mode (``advise.top_k`` > 0) probes then train only on the taps the
estimators rank highest, plus the last tap. Each estimator's ranking is then checked against
the probes' on the user's own data: Kendall's τ (``scipy.stats.kendalltau``, τ-b) between its
scores and the probes' test accuracies over the probed taps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from tunnellab.probe.features import SplitFeatures
from tunnellab.probe.heads import ProbeCurves
from tunnellab.probe.scores import score_taps

__all__ = [
    "AGREEMENT_COLUMNS",
    "TapAccuracies",
    "agreement",
    "agreement_markdown",
    "layer_scores",
    "subset_features",
    "top_taps",
]

AGREEMENT_COLUMNS = ["estimator", "kendall_tau", "p_value", "n_taps", "top_tap", "ranking"]


def layer_scores(train: SplitFeatures, estimators: Sequence[str], seed: int) -> pd.DataFrame:
    """One row per tap: ``tap_index`` and ``score_<estimator>`` for every estimator."""
    long = score_taps(train.features, train.labels, list(estimators), seed)
    wide = long.pivot(index="tap_index", columns="estimator", values="score")
    wide = wide.reindex(index=range(1, len(train.features) + 1), columns=list(estimators))
    wide.columns = [f"score_{name}" for name in wide.columns]
    return wide.rename_axis(None, axis=1).reset_index()


def top_taps(scores: pd.DataFrame, k: int) -> list[int]:
    """The ``k`` taps with the best mean rank over the estimators, plus the last tap (sorted).

    Ranks are per estimator (1 = highest score, ties averaged, a NaN score ranks last).
    """
    if k < 1:
        raise ValueError(f"k must be ≥ 1, got {k!r}")
    columns = [c for c in scores.columns if c.startswith("score_")]
    ranks = scores[columns].rank(ascending=False, method="average", na_option="bottom")
    mean_rank = ranks.mean(axis=1).to_numpy()
    order = np.lexsort((scores["tap_index"].to_numpy(), mean_rank))  # ties: the earlier tap
    chosen = {int(scores["tap_index"].iloc[i]) for i in order[:k]}
    chosen.add(int(scores["tap_index"].max()))
    return sorted(chosen)


def subset_features(split: SplitFeatures, taps: Sequence[int]) -> SplitFeatures:
    """The features of the 1-based ``taps`` only (views, nothing copied)."""
    return SplitFeatures(
        features=[split.features[t - 1] for t in taps], labels=split.labels, logits=split.logits
    )


@dataclass
class TapAccuracies:
    """Per-tap probe accuracies over all taps, NaN where no probe was trained."""

    acc_best: np.ndarray
    acc_last: np.ndarray
    acc_selected: np.ndarray

    @classmethod
    def from_curves(cls, curves: ProbeCurves, taps: Sequence[int], n_taps: int) -> TapAccuracies:
        """``curves`` of the probed ``taps`` (1-based) spread over ``n_taps`` taps."""
        index = np.asarray(taps, dtype=int) - 1

        def spread(values: np.ndarray) -> np.ndarray:
            out = np.full(n_taps, np.nan)
            out[index] = values
            return out

        return cls(spread(curves.acc_best), spread(curves.acc_last), spread(curves.acc_selected))


def _ranking(tap_index: np.ndarray, values: np.ndarray) -> str:
    """Taps from the highest value to the lowest (NaN last), e.g. ``"3 > 5 > 1"``."""
    order = np.lexsort((tap_index, -np.nan_to_num(values, nan=-np.inf)))
    return " > ".join(str(int(tap_index[i])) for i in order)


def agreement(layers: pd.DataFrame, estimators: Sequence[str], accuracy: str) -> pd.DataFrame:
    """Kendall's τ between each estimator's scores and ``layers[accuracy]`` on the probed taps.

    One row per estimator (``AGREEMENT_COLUMNS``) plus a last row ``probe`` with the probes'
    own ranking; ``top_tap`` is the tap the estimator scores highest over all taps.
    """
    probed = layers[np.isfinite(layers[accuracy].to_numpy(dtype=float))]
    taps = probed["tap_index"].to_numpy()
    acc = probed[accuracy].to_numpy(dtype=float)
    rows = []
    for name in estimators:
        scores = layers[f"score_{name}"].to_numpy(dtype=float)
        mine = probed[f"score_{name}"].to_numpy(dtype=float)
        ok = np.isfinite(mine)
        tau, p = (math.nan, math.nan)
        if ok.sum() >= 2:
            result = kendalltau(mine[ok], acc[ok])
            tau, p = float(result.statistic), float(result.pvalue)
        top = (
            int(layers["tap_index"].iloc[int(np.nanargmax(scores))])
            if np.isfinite(scores).any()
            else -1
        )
        all_taps = layers["tap_index"].to_numpy()
        rows.append([name, tau, p, int(ok.sum()), top, _ranking(all_taps, scores)])
    best_probe = int(taps[int(np.argmax(acc))]) if len(acc) else -1
    rows.append(["probe", 1.0, math.nan, len(acc), best_probe, _ranking(taps, acc)])
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


def agreement_markdown(table: pd.DataFrame, probed_only: bool) -> list[str]:
    """The advice.md section: each estimator's pick and τ, and which one agreed best here."""
    estimators = table[table["estimator"] != "probe"]
    probe = table[table["estimator"] == "probe"].iloc[0]
    lines = [
        "",
        "## Training-free layer scores against the probes",
        "Each estimator scored every layer from the training features alone, before any probe "
        "was trained. Kendall's τ compares its ranking of the layers with the probes' test "
        "accuracies on your data"
        + (
            f" over the {int(probe['n_taps'])} layers that were probed (fast mode: the layers "
            "the estimators ranked highest, plus the last)."
            if probed_only
            else f" over all {int(probe['n_taps'])} layers."
        )
        + " τ = 1: the same order; 0: unrelated; −1: reversed.",
        "",
        "| estimator | its best layer | Kendall τ | p-value | its ranking of the layers |",
        "|---|---|---|---|---|",
    ]
    for row in estimators.itertuples():
        tau = "n/a" if math.isnan(row.kendall_tau) else f"{row.kendall_tau:+.2f}"
        p = "n/a" if math.isnan(row.p_value) else f"{row.p_value:.3f}"
        lines.append(f"| {row.estimator} | tap {row.top_tap} | {tau} | {p} | {row.ranking} |")
    lines.append(f"| probes (reference) | tap {int(probe['top_tap'])} | | | {probe['ranking']} |")
    finite = estimators[np.isfinite(estimators["kendall_tau"].to_numpy(dtype=float))]
    lines.append("")
    if finite.empty:
        lines.append(
            "No τ could be computed: fewer than two layers were probed, or the probes' "
            "accuracies (or the scores) were all equal on them."
        )
    else:
        best = finite["kendall_tau"].max()
        names = ", ".join(f"**{n}**" for n in finite[finite["kendall_tau"] == best]["estimator"])
        lines.append(
            f"Here {names} agreed best with the probes (τ = {best:+.2f}). No single estimator "
            "wins on every dataset, so trust a training-free ranking only where it agreed here."
        )
    return lines
