"""Tunnel-effect metrics computed from per-tap linear-probe accuracy curves.

All curves are sequences of probe accuracies (fractions in [0, 1]) indexed by tap, tap 1 being
the first tap and tap n the penultimate layer. Every function is pure: array-likes in, plain
Python floats / ints / strings out. Definitions: docs/protocol.md#metrics.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = [
    "STRENGTH_BINS",
    "TunnelMetrics",
    "check_curve",
    "id_ood_alignment",
    "id_saturation_start",
    "normalised_curve",
    "ood_retained",
    "pearson_id_ood",
    "tunnel_metrics",
    "tunnel_start",
    "tunnel_strength",
]

#: (label, lower bound in % retained), checked in order; the first bound met wins.
STRENGTH_BINS: tuple[tuple[str, float], ...] = (
    ("negligible", 95.0),
    ("weak", 90.0),
    ("medium", 80.0),
    ("strong", float("-inf")),
)


def check_curve(name: str, values: Sequence[float], min_len: int = 1) -> np.ndarray:
    """Return ``values`` as a 1-D float array of accuracies, or raise ``ValueError``.

    The curve must be one-dimensional, hold at least ``min_len`` finite values, and every value
    must be an accuracy fraction in [0, 1]. ``name`` is used in the error message.
    """
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a sequence of numbers: {exc}") from exc
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size < min_len:
        raise ValueError(f"{name} needs at least {min_len} value(s), got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values: {arr.tolist()}")
    if np.any(arr < 0.0) or np.any(arr > 1.0):
        raise ValueError(
            f"{name} must hold accuracy fractions in [0, 1] (not percentages); "
            f"got min {arr.min():g}, max {arr.max():g}"
        )
    return arr


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be an accuracy fraction in [0, 1], got {value!r}")
    return value


def _check_n_classes(name: str, value: int) -> int:
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def ood_retained(acc_ood: Sequence[float]) -> float:
    """% OOD performance retained: ``100 * a[n] / max_l a[l]`` (100.0 if the max is 0)."""
    a = check_curve("acc_ood", acc_ood)
    peak = float(a.max())
    if peak == 0.0:
        return 100.0
    return float(100.0 * a[-1] / peak)


def tunnel_start(acc_ood: Sequence[float]) -> int | None:
    """1-based tap of the OOD peak if it precedes tap n and strictly beats it, else ``None``.

    Ties for the maximum resolve to the first tap reaching it; a peak equal to the last tap's
    accuracy is no tunnel.
    """
    a = check_curve("acc_ood", acc_ood)
    peak = int(np.argmax(a))  # first occurrence of the maximum
    if peak < a.size - 1 and a[peak] > a[-1]:
        return peak + 1
    return None


def id_saturation_start(acc_id: Sequence[float], fraction: float = 0.95) -> int:
    """Masarczyk's tunnel start: first 1-based tap with ``a_id[l] >= fraction * a_id[n]``."""
    a = check_curve("acc_id", acc_id)
    fraction = float(fraction)
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    threshold = fraction * a[-1]
    # The last tap always qualifies, so argmax finds a True entry.
    return int(np.argmax(a >= threshold)) + 1


def pearson_id_ood(acc_id: Sequence[float], acc_ood: Sequence[float]) -> float:
    """Pearson rho between the ID and OOD probe curves over taps 1..n.

    Returns NaN (without warning) when either curve is constant.
    """
    a_id = check_curve("acc_id", acc_id, min_len=2)
    a_ood = check_curve("acc_ood", acc_ood, min_len=2)
    if a_id.size != a_ood.size:
        raise ValueError(
            f"acc_id and acc_ood must have the same length, got {a_id.size} and {a_ood.size}"
        )
    if np.ptp(a_id) == 0.0 or np.ptp(a_ood) == 0.0:
        return float("nan")
    return float(stats.pearsonr(a_id, a_ood).statistic)


def id_ood_alignment(
    alpha_id: float, n_classes_id: int, alpha_ood: float, n_classes_ood: int
) -> float:
    """ID/OOD alignment ``A = (alpha_id - 1/C_id) * (alpha_ood - 1/C_ood)``."""
    alpha_id = _check_fraction("alpha_id", alpha_id)
    alpha_ood = _check_fraction("alpha_ood", alpha_ood)
    c_id = _check_n_classes("n_classes_id", n_classes_id)
    c_ood = _check_n_classes("n_classes_ood", n_classes_ood)
    return float((alpha_id - 1.0 / c_id) * (alpha_ood - 1.0 / c_ood))


def tunnel_strength(retained: float) -> str:
    """Strength bin of a % retained value: negligible >= 95, weak [90, 95), medium [80, 90),
    strong < 80."""
    retained = float(retained)
    if math.isnan(retained):
        raise ValueError("retained is NaN; cannot assign a tunnel strength")
    for label, lower in STRENGTH_BINS:
        if retained >= lower:
            return label
    raise AssertionError("unreachable: the last bin has no lower bound")  # pragma: no cover


def normalised_curve(acc: Sequence[float]) -> np.ndarray:
    """The curve divided by its own maximum (an all-zero curve is returned as zeros)."""
    a = check_curve("acc", acc)
    peak = a.max()
    if peak == 0.0:
        return np.zeros_like(a)
    return a / peak


@dataclass(frozen=True)
class TunnelMetrics:
    """Tunnel metrics of one backbone on one OOD dataset (tap indices are 1-based)."""

    retained: float
    pearson: float
    alignment: float
    tunnel_start: int | None
    id_saturation_start: int
    strength: str
    peak_tap: int


def tunnel_metrics(
    acc_id: Sequence[float],
    acc_ood: Sequence[float],
    alpha_id: float,
    n_classes_id: int,
    n_classes_ood: int,
) -> TunnelMetrics:
    """All metrics for one (backbone, OOD dataset) pair.

    ``alpha_id`` is the backbone's own ID top-1 accuracy; the OOD accuracy used for the
    alignment is the penultimate-layer probe, ``acc_ood[-1]``. ``strength`` bins this single
    dataset's retained value (the paper bins the mean over OOD sets; use ``tunnel_strength``
    on that mean for the paper's table). ``id_saturation_start`` uses the 95% fraction.
    """
    a_id = check_curve("acc_id", acc_id, min_len=2)
    a_ood = check_curve("acc_ood", acc_ood, min_len=2)
    if a_id.size != a_ood.size:
        raise ValueError(
            f"acc_id and acc_ood must have the same length (one value per tap), "
            f"got {a_id.size} and {a_ood.size}"
        )
    retained = ood_retained(a_ood)
    return TunnelMetrics(
        retained=retained,
        pearson=pearson_id_ood(a_id, a_ood),
        alignment=id_ood_alignment(alpha_id, n_classes_id, float(a_ood[-1]), n_classes_ood),
        tunnel_start=tunnel_start(a_ood),
        id_saturation_start=id_saturation_start(a_id),
        strength=tunnel_strength(retained),
        peak_tap=int(np.argmax(a_ood)) + 1,
    )
