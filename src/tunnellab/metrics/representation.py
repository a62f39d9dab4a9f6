"""Per-layer representation diagnostics: numerical rank and within-class variability collapse.

Both are pure functions of one tap's features on the ID data (rows = samples), the companions of
the tunnel metrics (docs/protocol.md#metrics): the *numerical rank* of the feature covariance (how
many directions the layer still uses; it falls inside the tunnel) and *NC1* = tr(Σ_W Σ_B⁺)/C (Papyan
et al.'s neural-collapse measure; it falls as classes collapse to their means). Inputs may be
NumPy arrays or torch tensors (any float dtype, e.g. the fp16 feature cache); the maths is done
in float64.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["nc1", "numerical_rank", "tap_diagnostics"]

#: Samples used for the rank when a split has more (a seeded subset, the same for every tap).
RANK_SAMPLES = 4096
RANK_REL_TOL = 1e-3


def _as_matrix(name: str, values: object) -> np.ndarray:
    """``values`` as a finite float64 matrix (samples × features), or raise ``ValueError``."""
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        values = values.detach().cpu().float().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (samples × features) matrix, got shape {arr.shape}")
    if arr.shape[0] < 2 or arr.shape[1] < 1:
        raise ValueError(f"{name} needs at least 2 samples and 1 feature, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def _as_labels(values: object, n: int) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    labels = np.asarray(values).reshape(-1)
    if labels.size != n:
        raise ValueError(f"labels has {labels.size} entries but features has {n} samples")
    return labels


def _subsample(n: int, max_samples: int | None, seed: int) -> np.ndarray | slice:
    if max_samples is None or n <= max_samples:
        return slice(None)
    if max_samples < 2:
        raise ValueError(f"max_samples must be at least 2, got {max_samples}")
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


def numerical_rank(
    features: object,
    rel_tol: float = RANK_REL_TOL,
    max_samples: int | None = RANK_SAMPLES,
    seed: int = 0,
) -> int:
    """Number of eigenvalues of the feature covariance above ``rel_tol`` × the largest.

    ``features`` is (samples × features); at most ``max_samples`` rows are used (a seeded random
    subset without replacement; ``None`` uses all). Constant features give rank 0.
    """
    if not 0.0 < rel_tol < 1.0:
        raise ValueError(f"rel_tol must be in (0, 1), got {rel_tol!r}")
    x = _as_matrix("features", features)
    x = x[_subsample(x.shape[0], max_samples, seed)]
    centred = x - x.mean(axis=0)
    # The covariance's nonzero eigenvalues (= its singular values), from the smaller Gram matrix.
    gram = centred.T @ centred if x.shape[1] <= x.shape[0] else centred @ centred.T
    eigen = np.linalg.eigvalsh(gram) / (x.shape[0] - 1)
    top = float(eigen.max(initial=0.0))
    if top <= 0.0:
        return 0
    return int(np.count_nonzero(eigen > rel_tol * top))


def nc1(features: object, labels: object) -> float:
    """Within-class variability collapse NC1 = tr(Σ_W Σ_B⁺) / C.

    Σ_W is the covariance of the samples around their class means (averaged over all samples);
    Σ_B the covariance of the C class means around their mean; Σ_B⁺ its pseudo-inverse (rank
    ≤ C − 1; eigenvalues below ``max(D, C) · eps`` × the largest are dropped). Needs ≥ 2 classes.
    """
    x = _as_matrix("features", features)
    y = _as_labels(labels, x.shape[0])
    classes, index = np.unique(y, return_inverse=True)
    c = classes.size
    if c < 2:
        raise ValueError(f"NC1 needs at least 2 classes, got {c}")
    counts = np.bincount(index, minlength=c).astype(np.float64)
    means = np.zeros((c, x.shape[1]))
    np.add.at(means, index, x)
    means /= counts[:, None]
    between = (means - means.mean(axis=0)).T  # D × C, so Σ_B = between · betweenᵀ / C
    u, s, _ = np.linalg.svd(between, full_matrices=False)
    eigen = s**2 / c
    keep = eigen > max(x.shape[1], c) * np.finfo(np.float64).eps * float(eigen.max(initial=0.0))
    if not keep.any():
        return float("inf")
    residual = x - means[index]  # samples around their class means
    projected = residual @ u[:, keep]  # N × K
    within = (projected**2).sum(axis=0) / x.shape[0]  # u_kᵀ Σ_W u_k
    return float((within / eigen[keep]).sum() / c)


def tap_diagnostics(
    features: Sequence[object],
    labels: object,
    tap_names: Sequence[str] | None = None,
    rel_tol: float = RANK_REL_TOL,
    max_samples: int | None = RANK_SAMPLES,
    seed: int = 0,
) -> pd.DataFrame:
    """Rank and NC1 of every tap: ``tap_index`` (from 1), ``tap_name``, ``dim``, ``rank``,
    ``rank_fraction`` (rank / dim), ``nc1``. ``features[t]`` is tap t's (samples × dim) matrix
    on the ID split (e.g. ``SplitFeatures.features``) and ``labels`` its labels.

    NC1 uses the same seeded subset as the rank, so both describe the same samples.
    """
    names = (
        list(tap_names) if tap_names is not None else [f"tap{i + 1}" for i in range(len(features))]
    )
    if len(names) != len(features):
        raise ValueError(f"{len(names)} tap names for {len(features)} feature matrices")
    records = []
    for t, (name, tap) in enumerate(zip(names, features, strict=True)):
        x = _as_matrix(f"features[{t}]", tap)
        y = _as_labels(labels, x.shape[0])
        rows = _subsample(x.shape[0], max_samples, seed)
        x, y = x[rows], y[rows]
        rank = numerical_rank(x, rel_tol=rel_tol, max_samples=None)
        records.append(
            {
                "tap_index": t + 1,
                "tap_name": str(name),
                "dim": x.shape[1],
                "rank": rank,
                "rank_fraction": rank / x.shape[1],
                "nc1": nc1(x, y),
            }
        )
    return pd.DataFrame(records)
