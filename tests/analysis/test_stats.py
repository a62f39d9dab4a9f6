"""The paper's statistics against hand-checked cases and scipy; the pairing on a known table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from analysis_helpers import study_rows
from scipy import stats as sps

from tunnellab.analysis import stats
from tunnellab.analysis.table import finalise

BY_NAME = {c.variable: c for c in stats.COMPARISONS}
MODELS_4 = ("vggm11", "vggm17", "resnet18", "resnet34")


def test_mean_ci_by_hand_and_against_scipy():
    ci = stats.mean_ci([1, 2, 3, 4, 5])
    # sd = sqrt(2.5), SEM = sqrt(0.5), t(0.975, 4) = 2.776445
    assert (ci.n, ci.mean) == (5, 3.0)
    assert ci.ci_low == pytest.approx(3 - 2.776445 * math.sqrt(0.5), abs=1e-6)
    values = np.random.default_rng(0).normal(size=12)
    for ci_df, dof in (("n-1", 11), ("n", 12)):
        ci = stats.mean_ci(values, ci_df=ci_df)
        low, high = sps.t.interval(0.95, dof, loc=values.mean(), scale=sps.sem(values))
        assert (ci.ci_low, ci.ci_high) == pytest.approx((low, high))
    assert stats.mean_ci(values, "n").ci_high < stats.mean_ci(values, "n-1").ci_high


def test_mean_ci_edge_cases():
    one = stats.mean_ci([4.0, float("nan")])
    assert one.n == 1 and one.mean == 4.0 and math.isnan(one.ci_low)
    assert stats.mean_ci([]).n == 0
    with pytest.raises(ValueError, match="ci_df"):
        stats.mean_ci([1, 2], ci_df="n+1")


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([1, 2, 3], [1, 2, 3], 0.0),
        ([4, 5], [1, 2], 1.0),
        ([1, 2], [4, 5], -1.0),
        ([1, 2, 3], [2], 0.0),
        ([3, 4], [1, 3], 0.75),  # 3>1, 3=3, 4>1, 4>3
    ],
)
def test_cliffs_delta_by_hand(x, y, expected):
    assert stats.cliffs_delta(x, y) == pytest.approx(expected)


def test_cliffs_delta_matches_mann_whitney_u():
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 6, 15), rng.integers(1, 7, 11)  # with ties
    u = sps.mannwhitneyu(x, y).statistic
    assert stats.cliffs_delta(x, y) == pytest.approx(2 * u / (len(x) * len(y)) - 1)


@pytest.mark.parametrize(
    ("delta", "label"),
    [
        (0.0, "negligible"),
        (0.146, "negligible"),
        (0.147, "small"),
        (-0.32, "small"),
        (0.33, "medium"),
        (0.473, "medium"),
        (-0.474, "large"),
        (1.0, "large"),
        (float("nan"), ""),
    ],
)
def test_cliffs_magnitude_thresholds(delta, label):
    assert stats.cliffs_magnitude(delta) == label


def test_wilcoxon_matches_scipy_and_exact_case():
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    b = [1.5, 2.1, 3.9, 3.0, 7.5, 6.8]
    assert stats.wilcoxon_p(a, b) == pytest.approx(sps.wilcoxon(b, a).pvalue)
    # 8 pairs, all differences positive: exact two-sided p = 2 / 2**8.
    assert stats.wilcoxon_p(np.zeros(8), np.arange(1, 9)) == pytest.approx(2 / 2**8)
    assert math.isnan(stats.wilcoxon_p([1, 2], [1, 2]))
    with pytest.raises(ValueError, match="length"):
        stats.wilcoxon_p([1, 2], [1, 2, 3])


def test_pairing_on_a_table_with_a_known_answer(study):
    tests, pairs = stats.paired_tests(study)
    aug = pairs[pairs["variable"] == "augmentation"]
    assert len(aug) == 2 * 2 * 3  # models × resolutions × OOD datasets
    for row in aug.itertuples():
        a, b = study.loc[row.row_a], study.loc[row.row_b]
        assert (a.augmentation, b.augmentation) == ("none", "rrc_flip")
        same = ["model", "resolution", "dataset"]
        assert a[same].tolist() == b[same].tolist()
        assert row.retained_b - row.retained_a == pytest.approx(10.0)
    t = tests.set_index(["variable", "metric"]).loc[("augmentation", "retained")]
    assert t["n_pairs"] == 12 and t["n_unpaired"] == 0
    assert t["wilcoxon_p"] == pytest.approx(2 / 2**12)  # all 12 differences positive
    assert t["mean_b"] - t["mean_a"] == pytest.approx(10.0)

    depth = pairs[pairs["variable"] == "depth"]  # depth is linked to over-parameterisation
    assert len(depth) == 12
    assert set(depth["backbone_a"].str[:6]) == {"vggm11"}
    assert set(depth["backbone_b"].str[:6]) == {"vggm17"}
    d = tests.set_index(["variable", "metric"]).loc[("depth", "retained")]
    assert d["cliffs_delta"] < 0 and d["magnitude"] == "large"
    # Spatial reduction, stem and ID dataset never vary here: no tests for them.
    assert not {"spatial_reduction", "stem", "id_dataset"} & set(tests["variable"])


def test_unequal_matches_are_left_out_and_equal_ones_pair_by_depth():
    three = finalise(pd.DataFrame(study_rows(MODELS_4[:3], (32,))))
    pairs, unpaired = stats.pair_rows(three, BY_NAME["architecture"])
    assert pairs.empty and unpaired[("ResNet", "VGGm")] == 2 * 3  # 2 VGGm vs 1 ResNet per match

    four = finalise(pd.DataFrame(study_rows(MODELS_4, (32,))))
    pairs, unpaired = stats.pair_rows(four, BY_NAME["architecture"])
    assert not unpaired
    matched = set(zip(pairs["backbone_a"].str[:8], pairs["backbone_b"].str[:8], strict=True))
    assert matched == {("resnet18", "vggm11-3"), ("resnet34", "vggm17-3")}


def test_rows_differing_in_context_are_not_paired(study):
    wide = study.copy()
    wide["width"] = np.where(wide["augmentation"] == "none", 0.25, 0.5)
    pairs, _ = stats.pair_rows(wide, BY_NAME["augmentation"])
    assert pairs.empty


def test_group_means_cover_only_matched_rows(study):
    lonely = finalise(
        pd.DataFrame(study_rows() + study_rows(("resnet18",), (64,))),
    )
    means = stats.group_means(lonely, metrics=("retained",))
    res = means[means["variable"] == "resolution"]
    assert res["level"].tolist() == [32, 224]  # ResNet-18 at 64² has no resolution twin
    assert res["n"].tolist() == [12, 12]
    aug = means[means["variable"] == "augmentation"].set_index("level")
    assert aug.loc["rrc_flip", "mean"] - aug.loc["none", "mean"] == pytest.approx(10.0)
    assert aug.loc["none", "n"] == 12 + 3  # ResNet-18 at 64² has both augmentations
    ci = stats.mean_ci(lonely.loc[lonely.augmentation == "none", "retained"])
    assert aug.loc["none", "ci_low"] == pytest.approx(ci.ci_low)


def test_strength_bins_and_per_backbone():
    rows = []
    for i, mean in enumerate([96.0, 95.0, 92.0, 90.0, 85.0, 80.0, 50.0]):
        for dataset, delta in (("a", -1.0), ("b", 1.0)):
            row = study_rows(("vggm11",), (32,))[0]
            rows.append(dict(row, run_id=f"r{i}", dataset=dataset, retained=mean + delta))
    table = finalise(pd.DataFrame(rows))
    bins = stats.strength_bins(table)
    assert bins.to_dict("list") == {
        "bin": ["negligible", "weak", "medium", "strong"],
        "count": [2, 2, 2, 1],
    }
    long = stats.per_backbone(table)
    assert len(long) == 7 * 2 * 3
    assert set(long["metric"]) == {"retained", "pearson", "alignment"}
    summary = stats.backbone_summary(table)
    assert summary["mean_retained"].tolist() == [96.0, 95.0, 92.0, 90.0, 85.0, 80.0, 50.0]
