"""Diversity of a set of embeddings, and how well one set covers another: pure functions.

* :func:`vendi_score` (Friedman & Dieng, 2023): exp of the (order-q Rényi) entropy of the
  eigenvalues of the normalised similarity matrix K/n — the effective number of distinct samples.
* :func:`effective_rank` (Roy & Vetterli, 2007): exp of the entropy of the normalised singular
  values of the centred features — the effective number of directions used.
* :func:`precision_recall_density_coverage` (Kynkäänniemi et al., 2019; Naeem et al., 2020): the
  k-NN fit of a sample (``fake``) to a reference set (``real``) in an embedding.

Rows are samples. Inputs may be NumPy arrays or torch tensors (any float dtype, e.g. the fp16
feature cache); the maths is done in float64. docs/diversity.md states the kernel, the sample
size and the definitions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

__all__ = [
    "DIVERSITY_SAMPLES",
    "KERNELS",
    "PRDC_K",
    "Prdc",
    "effective_rank",
    "precision_recall_density_coverage",
    "seeded_sample",
    "vendi_score",
]

#: Samples a tap's diversity is computed on when its split has more (:func:`seeded_sample`).
DIVERSITY_SAMPLES = 4096
#: Similarity kernels of :func:`vendi_score`.
KERNELS = ("cosine", "linear")
#: Neighbours that set the radius of each reference sample's ball.
PRDC_K = 5
#: Which Gram matrix the Vendi eigenvalues come from.
GRAMS = ("auto", "samples", "features")
_BLOCK_ROWS = 1024


def _as_matrix(name: str, values: object, min_rows: int = 1) -> np.ndarray:
    """``values`` as a finite float64 matrix (samples × features), or raise ``ValueError``."""
    if hasattr(values, "detach"):  # a torch tensor, without importing torch here
        values = values.detach().cpu().double().numpy()
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (samples × features) matrix, got shape {arr.shape}")
    if arr.shape[0] < min_rows or arr.shape[1] < 1:
        raise ValueError(
            f"{name} needs at least {min_rows} sample(s) and 1 feature, got shape {arr.shape}"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains non-finite values")
    return arr


def seeded_sample(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """Sorted indices of ``n`` distinct rows out of ``n_total`` (all of them if ``n ≥ n_total``).

    The same (n_total, n, seed) always gives the same rows, so every tap of a split is measured on
    the same images.
    """
    for key, value in (("n_total", n_total), ("n", n)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    if n >= n_total:
        return np.arange(n_total)
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


def _entropy(p: np.ndarray, q: float) -> float:
    """Rényi entropy of order ``q`` (Shannon at q = 1) of the distribution ``p`` (sums to 1)."""
    p = p[p > 0.0]
    if q == 1.0:
        return float(-(p * np.log(p)).sum())
    if q == 0.0:
        return math.log(p.size)
    if math.isinf(q):
        return float(-math.log(p.max()))
    return float(math.log((p**q).sum()) / (1.0 - q))


def _spectrum(values: np.ndarray, rel_tol: float) -> np.ndarray:
    """Nonnegative ``values`` normalised to sum to 1, those below ``rel_tol`` × the largest as 0."""
    values = np.clip(values, 0.0, None)
    values[values <= rel_tol * float(values.max(initial=0.0))] = 0.0
    return values / values.sum()


def vendi_score(
    features: object, kernel: str = "cosine", q: float = 1.0, gram: str = "auto"
) -> float:
    """Vendi score of order ``q``: exp(H_q(λ)), λ the eigenvalues of K / tr(K).

    ``kernel="cosine"``: K = cosine similarities (rows L2-normalised; tr(K) = n, Friedman &
    Dieng's K/n); ``"linear"``: K = dot products, normalised by their trace. H_q is the Rényi
    entropy (q = 1 Shannon, q = 0 counts the nonzero eigenvalues, q = inf −log max λ). The score
    is 1 for n identical points and n for n orthogonal ones. The nonzero eigenvalues of Z Zᵀ (n×n)
    and Zᵀ Z (d×d) are the same: ``gram="auto"`` uses the smaller ("samples" / "features" force
    one).
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if gram not in GRAMS:
        raise ValueError(f"gram must be one of {', '.join(GRAMS)}, got {gram!r}")
    q = float(q)
    if math.isnan(q) or q < 0.0:
        raise ValueError(f"q must be a number ≥ 0 (or inf), got {q!r}")
    z = _as_matrix("features", features)
    if kernel == "cosine":
        norms = np.linalg.norm(z, axis=1)
        if np.any(norms == 0.0):
            zero = int(np.count_nonzero(norms == 0.0))
            raise ValueError(
                f"features has {zero} all-zero row(s): the cosine kernel needs nonzero rows"
            )
        z = z / norms[:, None]
    elif not np.any(z):
        raise ValueError("features is all zeros: the linear kernel has no spectrum")
    n, d = z.shape
    samples = gram == "samples" or (gram == "auto" and n <= d)
    eigen = np.linalg.eigvalsh(z @ z.T if samples else z.T @ z)
    lam = _spectrum(eigen, rel_tol=max(n, d) * np.finfo(np.float64).eps)
    return math.exp(_entropy(lam, q))


def effective_rank(features: object) -> float:
    """Effective rank exp(−Σ pᵢ log pᵢ), pᵢ = σᵢ / Σσ the singular values of the centred features.

    1 for rank-1 data, ≈ d for an isotropic Gaussian in d dimensions (n ≫ d); scale- and
    translation-invariant. Constant features (nothing left after centring) give 0.
    """
    x = _as_matrix("features", features, min_rows=2)
    centred = x - x.mean(axis=0)
    # Singular values as square roots of the smaller Gram matrix's eigenvalues (much faster than
    # an SVD for thousands of samples; the smallest lose precision but barely weigh in the entropy).
    small = centred.T @ centred if x.shape[1] <= x.shape[0] else centred @ centred.T
    sigma = np.sqrt(np.clip(np.linalg.eigvalsh(small), 0.0, None))
    if float(sigma.max(initial=0.0)) <= 0.0:
        return 0.0
    p = _spectrum(sigma, rel_tol=math.sqrt(max(x.shape) * np.finfo(np.float64).eps))
    return math.exp(_entropy(p, 1.0))


@dataclass(frozen=True)
class Prdc:
    """Fit of a sample to a reference set: fidelity (precision, density), diversity (recall,
    coverage). All in [0, 1] except density, whose mean is 1 when both come from one distribution.
    """

    precision: float
    recall: float
    density: float
    coverage: float


def _knn_radii(x: np.ndarray, k: int, block: int) -> np.ndarray:
    """Distance of every row of ``x`` to its k-th nearest other row."""
    radii = np.empty(x.shape[0])
    for start in range(0, x.shape[0], block):
        dist = cdist(x[start : start + block], x)
        # Column 0 of the sorted row is the point itself (distance 0), so index k is its k-th NN.
        radii[start : start + block] = np.partition(dist, k, axis=1)[:, k]
    return radii


def precision_recall_density_coverage(
    real: object, fake: object, k: int = PRDC_K, block: int = _BLOCK_ROWS
) -> Prdc:
    """Precision / recall (Kynkäänniemi et al.) and density / coverage (Naeem et al.) of ``fake``
    against the reference ``real``, with Euclidean k-NN balls (a point is inside a ball at
    distance ≤ its radius).

    * precision: fraction of fake samples inside some real sample's k-NN ball;
    * recall: fraction of real samples inside some fake sample's k-NN ball;
    * density: (1 / kM) Σ_fake (number of real k-NN balls containing it);
    * coverage: fraction of real samples whose k-NN ball holds at least one fake sample.

    ``block`` rows of ``real`` are compared at a time (memory ∝ block × len(fake)).
    """
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    r = _as_matrix("real", real, min_rows=k + 1)
    f = _as_matrix("fake", fake, min_rows=k + 1)
    if r.shape[1] != f.shape[1]:
        raise ValueError(
            f"real and fake must have the same number of features, got {r.shape[1]} and "
            f"{f.shape[1]}"
        )
    real_radii = _knn_radii(r, k, block)
    fake_radii = _knn_radii(f, k, block)
    fake_inside = np.zeros(f.shape[0], dtype=bool)
    balls_per_fake = np.zeros(f.shape[0])
    recalled = np.empty(r.shape[0], dtype=bool)
    covered = np.empty(r.shape[0], dtype=bool)
    for start in range(0, r.shape[0], block):
        rows = slice(start, start + block)
        dist = cdist(r[rows], f)  # real block × fake
        inside = dist <= real_radii[rows, None]  # fake j inside real i's ball
        fake_inside |= inside.any(axis=0)
        balls_per_fake += inside.sum(axis=0)
        covered[rows] = inside.any(axis=1)
        recalled[rows] = (dist <= fake_radii[None, :]).any(axis=1)
    return Prdc(
        precision=float(fake_inside.mean()),
        recall=float(recalled.mean()),
        density=float(balls_per_fake.sum() / (k * f.shape[0])),
        coverage=float(covered.mean()),
    )
