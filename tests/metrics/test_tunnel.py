"""Hand-computed cases for the tunnel-effect metrics."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest

from tunnellab.metrics import (
    STRENGTH_BINS,
    TunnelMetrics,
    id_ood_alignment,
    id_saturation_start,
    normalised_curve,
    ood_retained,
    pearson_id_ood,
    tunnel_metrics,
    tunnel_start,
    tunnel_strength,
)

# --- % retained -------------------------------------------------------------------------------


def test_retained_hand_computed() -> None:
    assert ood_retained([0.2, 0.5, 0.4]) == pytest.approx(80.0)
    assert ood_retained([0.1, 0.8, 0.2]) == pytest.approx(25.0)
    assert isinstance(ood_retained([0.2, 0.5, 0.4]), float)


def test_retained_is_100_without_tunnel() -> None:
    assert ood_retained([0.1, 0.3, 0.6]) == 100.0
    assert ood_retained([0.6, 0.6, 0.6]) == 100.0
    assert ood_retained([0.0, 0.0, 0.0]) == 100.0  # defined convention for an all-zero curve


def test_retained_accepts_numpy() -> None:
    assert ood_retained(np.array([0.25, 1.0, 0.5])) == pytest.approx(50.0)


# --- tunnel start -----------------------------------------------------------------------------


def test_tunnel_start_is_one_based_argmax() -> None:
    result = tunnel_start([0.2, 0.5, 0.4])
    assert result == 2
    assert type(result) is int
    assert tunnel_start([0.9, 0.5, 0.4, 0.3]) == 1


def test_no_tunnel_when_last_is_max() -> None:
    assert tunnel_start([0.2, 0.3, 0.4]) is None
    assert tunnel_start([0.5]) is None


def test_tunnel_start_ties() -> None:
    # Two taps share the maximum before the end: the first one is the start.
    assert tunnel_start([0.1, 0.6, 0.6, 0.3]) == 2
    # The maximum is shared with the last tap: not strictly better, so no tunnel.
    assert tunnel_start([0.1, 0.6, 0.2, 0.6]) is None
    assert tunnel_start([0.4, 0.4, 0.4]) is None


# --- Masarczyk saturation start ---------------------------------------------------------------


def test_id_saturation_start_fractions() -> None:
    acc_id = [0.1, 0.5, 0.93, 0.96, 1.0]
    assert id_saturation_start(acc_id) == 4  # default fraction 0.95 -> threshold 0.95
    assert id_saturation_start(acc_id, fraction=0.95) == 4
    assert id_saturation_start(acc_id, fraction=0.98) == 5  # threshold 0.98
    assert id_saturation_start(acc_id, fraction=0.5) == 2  # reached exactly at 0.5
    assert type(id_saturation_start(acc_id)) is int


def test_id_saturation_start_threshold_is_inclusive() -> None:
    assert id_saturation_start([0.2, 0.95, 1.0], fraction=0.95) == 2


def test_id_saturation_start_relative_to_final_not_max() -> None:
    # Final ID accuracy 0.5 -> threshold 0.475; tap 1 already above it.
    assert id_saturation_start([0.6, 0.9, 0.5]) == 1


def test_id_saturation_start_rejects_bad_fraction() -> None:
    with pytest.raises(ValueError, match="fraction"):
        id_saturation_start([0.1, 0.2], fraction=0.0)
    with pytest.raises(ValueError, match="fraction"):
        id_saturation_start([0.1, 0.2], fraction=1.5)


# --- Pearson ----------------------------------------------------------------------------------


def test_pearson_hand_computed() -> None:
    # Deviations: id (-1, 0, 1)·0.1, ood (-1, 1, 0)·0.1 -> rho = 1 / sqrt(2 * 2) = 0.5
    assert pearson_id_ood([0.1, 0.2, 0.3], [0.1, 0.3, 0.2]) == pytest.approx(0.5)
    assert pearson_id_ood([0.1, 0.2, 0.3], [0.3, 0.2, 0.1]) == pytest.approx(-1.0)
    assert pearson_id_ood([0.1, 0.2, 0.4], [0.2, 0.4, 0.8]) == pytest.approx(1.0)


def test_pearson_constant_curve_is_nan_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(pearson_id_ood([0.5, 0.5, 0.5], [0.1, 0.2, 0.3]))
        assert math.isnan(pearson_id_ood([0.1, 0.2, 0.3], [0.4, 0.4, 0.4]))


def test_pearson_validates() -> None:
    with pytest.raises(ValueError, match="same length"):
        pearson_id_ood([0.1, 0.2, 0.3], [0.1, 0.2])
    with pytest.raises(ValueError, match="acc_id"):
        pearson_id_ood([0.1], [0.2])


# --- alignment --------------------------------------------------------------------------------


def test_alignment_hand_computed() -> None:
    # (0.6 - 1/10) * (0.45 - 1/20) = 0.5 * 0.4
    assert id_ood_alignment(0.6, 10, 0.45, 20) == pytest.approx(0.2)
    # Chance-level OOD accuracy gives zero alignment; below chance gives a negative one.
    assert id_ood_alignment(0.9, 100, 0.25, 4) == pytest.approx(0.0)
    assert id_ood_alignment(0.9, 100, 0.1, 4) < 0.0


def test_alignment_validates() -> None:
    with pytest.raises(ValueError, match="alpha_id"):
        id_ood_alignment(60.0, 10, 0.45, 20)
    with pytest.raises(ValueError, match="alpha_ood"):
        id_ood_alignment(0.6, 10, -0.1, 20)
    with pytest.raises(ValueError, match="n_classes_id"):
        id_ood_alignment(0.6, 0, 0.45, 20)
    with pytest.raises(ValueError, match="n_classes_ood"):
        id_ood_alignment(0.6, 10, 0.45, 2.5)  # type: ignore[arg-type]


# --- strength bins ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("retained", "label"),
    [
        (100.0, "negligible"),
        (95.0, "negligible"),
        (np.nextafter(95.0, 0.0), "weak"),
        (90.0, "weak"),
        (np.nextafter(90.0, 0.0), "medium"),
        (80.0, "medium"),
        (np.nextafter(80.0, 0.0), "strong"),
        (0.0, "strong"),
    ],
)
def test_strength_bin_boundaries(retained: float, label: str) -> None:
    assert tunnel_strength(retained) == label


def test_strength_bins_constant_and_nan() -> None:
    assert [name for name, _ in STRENGTH_BINS] == ["negligible", "weak", "medium", "strong"]
    with pytest.raises(ValueError, match="NaN"):
        tunnel_strength(float("nan"))


# --- normalised curve -------------------------------------------------------------------------


def test_normalised_curve() -> None:
    np.testing.assert_allclose(normalised_curve([0.2, 0.5, 0.4]), [0.4, 1.0, 0.8])
    np.testing.assert_array_equal(normalised_curve([0.0, 0.0]), [0.0, 0.0])
    assert isinstance(normalised_curve([0.1, 0.2]), np.ndarray)


# --- all together -----------------------------------------------------------------------------


def test_tunnel_metrics_hand_computed() -> None:
    acc_id = [0.3, 0.6, 0.9, 1.0]
    acc_ood = [0.2, 0.5, 0.45, 0.4]
    m = tunnel_metrics(acc_id, acc_ood, alpha_id=0.6, n_classes_id=10, n_classes_ood=20)
    assert isinstance(m, TunnelMetrics)
    assert m.retained == pytest.approx(80.0)
    assert m.tunnel_start == 2
    assert m.peak_tap == 2
    assert m.strength == "medium"
    assert m.id_saturation_start == 4  # 0.9 < 0.95 * 1.0
    # alpha_ood is the last OOD tap: (0.6 - 0.1) * (0.4 - 0.05)
    assert m.alignment == pytest.approx(0.5 * 0.35)
    assert m.pearson == pytest.approx(float(np.corrcoef(acc_id, acc_ood)[0, 1]))
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.retained = 1.0  # type: ignore[misc]
    row = dataclasses.asdict(m)
    assert set(row) >= {"retained", "pearson", "alignment", "tunnel_start", "strength"}


def test_tunnel_metrics_without_tunnel() -> None:
    m = tunnel_metrics([0.2, 0.4, 0.8], [0.1, 0.3, 0.3], 0.8, 10, 10)
    assert m.retained == 100.0
    assert m.tunnel_start is None
    assert m.peak_tap == 2  # first argmax, even though it ties with the last tap
    assert m.strength == "negligible"


@pytest.mark.parametrize(
    ("acc_id", "acc_ood", "match"),
    [
        ([0.1, 0.2, 0.3], [0.1, 0.2], "same length"),
        ([0.1], [0.2], "acc_id"),
        ([0.1, 0.2], [0.2], "acc_ood"),
        ([10.0, 50.0], [0.1, 0.2], "acc_id.*\\[0, 1\\]"),
        ([0.1, 0.2], [0.1, 1.2], "acc_ood.*\\[0, 1\\]"),
        ([0.1, float("nan")], [0.1, 0.2], "acc_id.*non-finite"),
        ([[0.1, 0.2]], [0.1, 0.2], "acc_id.*one-dimensional"),
        (["a", "b"], [0.1, 0.2], "acc_id"),
    ],
)
def test_tunnel_metrics_validation(acc_id: list, acc_ood: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tunnel_metrics(acc_id, acc_ood, 0.5, 10, 10)


def test_tunnel_metrics_validates_alpha_and_classes() -> None:
    with pytest.raises(ValueError, match="alpha_id"):
        tunnel_metrics([0.1, 0.2], [0.1, 0.2], 97.0, 10, 10)
    with pytest.raises(ValueError, match="n_classes_ood"):
        tunnel_metrics([0.1, 0.2], [0.1, 0.2], 0.9, 10, 0)
