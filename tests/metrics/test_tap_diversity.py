"""Per-tap diversity: every tap on the same seeded rows, against the closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunnellab.metrics.diversity import effective_rank, seeded_sample, vendi_score
from tunnellab.metrics.tap_diversity import tap_diversity


def test_orthogonal_and_identical_rows_give_n_and_one():
    orthogonal = np.eye(6)
    identical = np.tile([1.0, 2.0, 3.0], (6, 1))
    out = tap_diversity([orthogonal, identical])
    assert out["tap_index"].tolist() == [1, 2]
    assert out["vendi"].tolist() == pytest.approx([6.0, 1.0])
    assert out["effective_rank"].iloc[1] == 0.0  # constant after centring


def test_every_tap_uses_the_same_seeded_rows():
    rng = np.random.default_rng(1)
    taps = [rng.normal(size=(300, 8)), rng.normal(size=(300, 20))]
    out = tap_diversity(taps, samples=50, seed=3)
    rows = seeded_sample(300, 50, seed=3)
    for t, tap in enumerate(taps):
        assert out["vendi"].iloc[t] == pytest.approx(vendi_score(tap[rows]), rel=1e-12)
        assert out["effective_rank"].iloc[t] == pytest.approx(effective_rank(tap[rows]))
    assert tap_diversity(taps, samples=50, seed=3).equals(out)  # deterministic


def test_all_zero_rows_are_left_out_of_the_cosine_vendi():
    x = np.vstack([np.eye(4), np.zeros((2, 4))])
    assert tap_diversity([x])["vendi"].iloc[0] == pytest.approx(4.0)
    assert math.isnan(tap_diversity([np.zeros((5, 3))])["vendi"].iloc[0])


def test_taps_must_have_the_same_rows():
    with pytest.raises(ValueError, match="rows"):
        tap_diversity([np.ones((5, 2)), np.ones((4, 2))])
