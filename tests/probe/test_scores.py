"""score_taps: every estimator as called directly, tap ordering, seeded subsets, no global RNG."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tunnellab.config import compose_config
from tunnellab.errors import ConfigError
from tunnellab.metrics.transferability import (
    ClassStats,
    gbc,
    hscore_regularised,
    logme,
    loo_knn_accuracy,
    ncti_combine,
    ncti_components,
    transrate,
)
from tunnellab.probe.scores import ESTIMATORS, score_taps


def _taps(n: int = 120, seed: int = 0) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Two fp16 taps of 3 classes (labels 5, 7, 9): tap 1 overlapping, tap 2 separable."""
    rng = np.random.default_rng(seed)
    index = np.arange(n) % 3
    noise = rng.normal(size=(n, 6))
    overlapping = noise + 0.2 * np.eye(3, 6)[index]
    separable = noise + 5.0 * np.eye(3, 6)[index]
    taps = [torch.tensor(t, dtype=torch.float16) for t in (overlapping, separable)]
    return taps, torch.tensor(5 + 2 * index)


def _pivot(table: pd.DataFrame) -> pd.DataFrame:
    return table.pivot(index="tap_index", columns="estimator", values="score")


def test_scores_equal_the_estimators_called_directly():
    taps, labels = _taps()
    table = score_taps(taps, labels, list(ESTIMATORS), seed=0)
    assert list(table.columns) == ["tap_index", "estimator", "score"]
    assert list(table["estimator"].unique()) == list(ESTIMATORS)  # in the order asked
    wide = _pivot(table)
    y = (labels - 5) // 2
    terms = []
    for t, features in enumerate(taps, start=1):
        x = features.double()
        stats = ClassStats.from_features(x, y)
        assert wide.loc[t, "hscore"] == pytest.approx(hscore_regularised(stats), rel=1e-9)
        assert wide.loc[t, "gbc"] == pytest.approx(gbc(stats), rel=1e-9, abs=1e-12)
        assert wide.loc[t, "logme"] == pytest.approx(logme(x, y), rel=1e-9)
        assert wide.loc[t, "transrate"] == pytest.approx(transrate(x, y), rel=1e-9)
        assert wide.loc[t, "knn"] == loo_knn_accuracy(x, y, k=20)
        terms.append(ncti_components(x, y))
    assert wide["ncti"].tolist() == pytest.approx(ncti_combine(terms))


def test_every_estimator_ranks_the_separable_tap_first():
    taps, labels = _taps()
    wide = _pivot(score_taps(taps, labels, list(ESTIMATORS), seed=0))
    for name in ESTIMATORS:
        assert wide.loc[2, name] > wide.loc[1, name], name


def test_subsets_are_seeded_and_leave_the_global_rng_alone():
    taps, labels = _taps(n=300)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()
    a = score_taps(taps, labels, ["logme", "hscore"], seed=1, max_samples=100)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.random.get_state()[1].tolist() == numpy_state[1].tolist()
    b = score_taps(taps, labels, ["logme", "hscore"], seed=1, max_samples=100)
    c = score_taps(taps, labels, ["logme", "hscore"], seed=2, max_samples=100)
    pd.testing.assert_frame_equal(a, b)
    logme_rows = a["estimator"] == "logme"
    assert not np.allclose(a.loc[logme_rows, "score"], c.loc[logme_rows, "score"])
    # the streamed H-score always reads every sample, so the subset does not change it
    hscore_rows = a["estimator"] == "hscore"
    assert np.array_equal(a.loc[hscore_rows, "score"], c.loc[hscore_rows, "score"])


def test_bad_estimator_names():
    taps, labels = _taps()
    with pytest.raises(ValueError, match="unknown estimator"):
        score_taps(taps, labels, ["logme", "fid"], seed=0)
    with pytest.raises(ConfigError, match=r"probe\.scores"):
        compose_config(["experiment=smoke", "probe.scores=[logme,fid]"])


def test_scores_default_on_except_in_paper_studies():
    assert list(compose_config(["experiment=smoke"]).probe.scores) == list(ESTIMATORS)
    assert list(compose_config(["experiment=quickstart"]).probe.scores) == list(ESTIMATORS)
    assert list(compose_config(["probe=paper"]).probe.scores) == []


def test_a_single_class_gives_nan_not_an_error():
    taps, _ = _taps(n=30)
    table = score_taps(taps, torch.zeros(30, dtype=torch.int64), list(ESTIMATORS), seed=0)
    assert len(table) == 2 * len(ESTIMATORS)
    assert table[table["estimator"] != "knn"]["score"].isna().all()
    assert (table[table["estimator"] == "knn"]["score"] == 1.0).all()  # trivially right
