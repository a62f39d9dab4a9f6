"""The advisor's layer scores: top-k taps, Kendall τ against the probes, fast mode end to end."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import kendalltau

from tunnellab.advise.estimators import (
    TapAccuracies,
    agreement,
    agreement_markdown,
    layer_scores,
    subset_features,
    top_taps,
)
from tunnellab.probe.features import SplitFeatures
from tunnellab.probe.heads import ProbeCurves


def _layers() -> pd.DataFrame:
    """5 taps: 'a' ranks them exactly as the probes, 'b' in reverse, 'c' in a hand-made order."""
    return pd.DataFrame(
        {
            "tap_index": [1, 2, 3, 4, 5],
            "acc_selected": [0.2, 0.4, 0.9, 0.6, 0.5],
            "score_a": [1.0, 2.0, 5.0, 4.0, 3.0],
            "score_b": [5.0, 4.0, 1.0, 2.0, 3.0],
            "score_c": [2.0, 1.0, 5.0, 3.0, 4.0],
        }
    )


def test_kendall_tau_against_hand_derived_values_and_scipy():
    table = agreement(_layers(), ["a", "b", "c"], "acc_selected").set_index("estimator")
    assert table.loc["a", "kendall_tau"] == pytest.approx(1.0)
    assert table.loc["b", "kendall_tau"] == pytest.approx(-1.0)
    # c vs the probes: of the 10 pairs, (1,2) and (4,5) are discordant: τ = (8 − 2) / 10.
    assert table.loc["c", "kendall_tau"] == pytest.approx(0.6)
    layers = _layers()
    want = kendalltau(layers["score_c"], layers["acc_selected"])
    assert table.loc["c", "p_value"] == pytest.approx(want.pvalue)
    assert table.loc["a", "top_tap"] == 3 and table.loc["b", "top_tap"] == 1
    assert table.loc["probe", "ranking"] == "3 > 4 > 5 > 2 > 1"
    text = "\n".join(agreement_markdown(table.reset_index(), probed_only=False))
    assert "**a** agreed best" in text and "| b | tap 1 | −1.00" not in text
    p_b = kendalltau(layers["score_b"], layers["acc_selected"]).pvalue
    assert f"| b | tap 1 | -1.00 | {p_b:.3f} | 1 > 2 > 5 > 4 > 3 |" in text
    assert "| probes (reference) | tap 3 | | | 3 > 4 > 5 > 2 > 1 |" in text


def test_tau_only_over_the_probed_taps():
    layers = _layers()
    layers.loc[[0, 3], "acc_selected"] = np.nan  # fast mode: taps 1 and 4 not probed
    table = agreement(layers, ["c"], "acc_selected").set_index("estimator")
    want = kendalltau([1.0, 5.0, 4.0], [0.4, 0.9, 0.5]).statistic
    assert table.loc["c", "kendall_tau"] == pytest.approx(want)
    assert table.loc["c", "n_taps"] == 3
    assert table.loc["c", "top_tap"] == 3  # over all taps, probed or not


def test_top_taps_by_mean_rank_plus_the_last():
    scores = _layers()[["tap_index", "score_a", "score_c"]]
    # mean ranks: tap 3 → 1, tap 4 → 2.5, tap 5 → 2.5, tap 1 → 4.5, tap 2 → 4.5
    assert top_taps(scores, 1) == [3, 5]
    assert top_taps(scores, 2) == [3, 4, 5]  # tie at 2.5: the earlier tap
    assert top_taps(scores, 10) == [1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="k must be"):
        top_taps(scores, 0)


def test_tap_subsets_and_spread_accuracies():
    features = [torch.full((4, d), float(d)) for d in (2, 3, 5)]
    split = SplitFeatures(features, torch.arange(4), torch.zeros(4, 2))
    sub = subset_features(split, [1, 3])
    assert [f.shape[1] for f in sub.features] == [2, 5]
    history = np.array([[0.1, 0.3], [0.2, 0.4]])
    curves = ProbeCurves(test_history=history, holdout_history=history)
    acc = TapAccuracies.from_curves(curves, [1, 3], 3)
    np.testing.assert_array_equal(acc.acc_best, [0.2, np.nan, 0.4])


def test_layer_scores_one_column_per_estimator():
    rng = np.random.default_rng(0)
    y = torch.tensor(np.arange(60) % 3)
    features = [torch.tensor(rng.normal(size=(60, 4)) + 3 * np.eye(3, 4)[y], dtype=torch.float16)]
    split = SplitFeatures(features * 2, y, torch.zeros(60, 3))
    wide = layer_scores(split, ["logme", "knn"], seed=0)
    assert list(wide.columns) == ["tap_index", "score_logme", "score_knn"]
    assert wide["tap_index"].tolist() == [1, 2]
    assert not math.isnan(wide["score_knn"].iloc[0])


@pytest.mark.slow
def test_fast_mode_probes_only_the_top_taps(tmp_path):
    from test_advisor import write_folder

    from tunnellab.advise.advisor import advise
    from tunnellab.config import compose_config
    from tunnellab.errors import ConfigError

    images = write_folder(tmp_path / "images", classes=3, per_class=12, side=32)
    overrides = [
        "probe.epochs=1", "advise.nuisances=[]", "model=vggm11", "model.width=0.0625",
        "checkpoint=random_init", f"data.path={images}", "data.resolution=32",
        "advise.resolution_check=false", "logger=none", "advise.top_k=3",
    ]  # fmt: skip
    result = advise(compose_config(overrides, config_name="advise"), tmp_path / "run")
    layers = pd.read_csv(result.files["layers"])
    probed = layers.dropna(subset=["acc_selected"])["tap_index"].tolist()
    assert len(probed) in (3, 4) and probed[-1] == 10  # top 3 (+ the last tap)
    assert {f"score_{e}" for e in ("logme", "ncti", "knn")} <= set(layers.columns)
    assert layers["score_logme"].notna().all()  # every tap scored
    table = pd.read_csv(result.files["estimators"])
    assert table["n_taps"].iloc[-1] == len(probed)
    text = (result.run_dir / "advice.md").read_text()
    assert "Kendall" in text and f"over the {len(probed)} layers that were probed" in text
    bad = compose_config([*overrides, "probe.scores=[]"], config_name="advise")
    with pytest.raises(ConfigError, match=r"advise\.top_k"):
        advise(bad, tmp_path / "bad")
