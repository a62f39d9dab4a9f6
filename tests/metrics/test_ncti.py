"""NCTI: known answers, a slow direct formula (NumPy SVDs, matrix inverse, scikit-learn's
Ledoit-Wolf shrinkage), streaming that does not depend on the chunking."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.covariance import ledoit_wolf_shrinkage

from tunnellab.metrics.transferability import ncti_combine, ncti_components


def _classes(separation: float, spread: float, n: int = 240, c: int = 4, d: int = 8, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    means = separation * np.eye(c, d) + 0.5
    return means[y] + spread * rng.normal(size=(n, d)), y


def _ncti_pair(a, b) -> list[float]:
    return ncti_combine([ncti_components(*a), ncti_components(*b)])


def test_separable_and_collapsed_rank_first():
    separable, overlapping = _ncti_pair(_classes(6.0, 1.0), _classes(0.3, 1.0))
    assert separable > overlapping
    collapsed, spread = _ncti_pair(_classes(1.0, 0.05), _classes(1.0, 1.0))
    assert collapsed > spread


def test_known_answers_of_each_term():
    # Collapsed: every class one point at the corners of a centred simplex (C = 4 in 8 dims).
    collapsed = ncti_components(*_classes(3.0, 0.0))
    assert collapsed["vc"] == pytest.approx(0.0, abs=1e-12)  # no variation around class means
    assert collapsed["ncc"] == pytest.approx(1.0, abs=1e-9)  # perfectly classified
    assert collapsed["seli"] == pytest.approx(math.sqrt(3.0))  # rank 3, equal eigenvalues
    # ±e_k: covariance I/d exactly, so Σ √λ / √Σ λ = √d.
    d = 6
    x = np.concatenate([np.eye(d), -np.eye(d)])
    y = np.arange(2 * d) % 2
    assert ncti_components(x, y)["seli"] == pytest.approx(math.sqrt(d))
    # Identical classes (the same samples under every label): the posterior is the prior.
    base, _ = _classes(0.0, 1.0, n=50)
    same = np.concatenate([base] * 3)
    labels = np.repeat(np.arange(3), 50)
    terms = ncti_components(same, labels)
    assert terms["ncc"] == pytest.approx(1 / 3, abs=1e-12)
    # Each class's nuclear norm around its own mean is the whole set's / √3 ... summed: √3.
    assert terms["vc"] == pytest.approx(-math.sqrt(3.0))


def test_combine_normalises_over_the_candidates():
    terms = [
        {"vc": 0.0, "seli": 1.0, "ncc": 1.0},
        {"vc": -1.0, "seli": 2.0, "ncc": 0.5},
        {"vc": -0.5, "seli": 1.5, "ncc": 0.5},
    ]
    assert ncti_combine(terms) == pytest.approx([2.0, 1.0, 1.0])
    assert ncti_combine([{"vc": 1.0, "seli": 1.0, "ncc": 1.0}] * 2) == [0.0, 0.0]
    assert ncti_combine([]) == []


def _direct(x: np.ndarray, y: np.ndarray, floor: float = 1e-6) -> dict[str, float]:
    """The three terms by plain NumPy: SVDs, an explicit inverse, a per-sample loop."""
    n, d = x.shape
    classes = np.unique(y)
    centred = x - x.mean(axis=0)
    total = np.linalg.svd(centred, compute_uv=False).sum()
    within = 0.0
    sw = np.zeros((d, d))
    means, priors = [], []
    for c in classes:
        rows = x[y == c]
        mu = rows.mean(axis=0)
        within += np.linalg.svd(rows - mu, compute_uv=False).sum()
        sw += (rows - mu).T @ (rows - mu) / n
        means.append(mu)
        priors.append(len(rows) / n)
    cov = centred.T @ centred / n
    alpha = ledoit_wolf_shrinkage(x)
    shared = (1 - alpha) * sw + alpha * np.trace(sw) / d * np.eye(d)
    shared += floor * np.trace(cov) / d * np.eye(d)
    inverse = np.linalg.inv(shared)
    correct = 0.0
    for i in range(n):
        logits = [
            -0.5 * (x[i] - mu) @ inverse @ (x[i] - mu) + math.log(p)
            for mu, p in zip(means, priors, strict=True)
        ]
        correct += softmax(logits)[list(classes).index(y[i])]
    seli = total / math.sqrt(n * np.trace(cov))
    return {"vc": -within / total, "seli": seli, "ncc": correct / n}


@pytest.mark.parametrize("shape", [(90, 5, 3), (40, 60, 4)])  # n > d and d > n
def test_matches_the_direct_formula(shape):
    n, d, c = shape
    rng = np.random.default_rng(5)
    y = np.minimum(np.arange(n) % (c + 1), c - 1)  # unequal class sizes
    x = rng.normal(size=(n, d)) + 1.5 * np.eye(c, d)[y] + 100.0
    got, want = ncti_components(x, y), _direct(x, y)
    for term in ("vc", "seli", "ncc"):
        assert got[term] == pytest.approx(want[term], rel=1e-6), term


def test_streaming_does_not_depend_on_the_chunking():
    x, y = _classes(1.5, 1.0, n=300, seed=2)
    whole = ncti_components(x, y, chunk_size=10_000)
    chunked = ncti_components(x, y, chunk_size=37)
    assert chunked == pytest.approx(whole, rel=1e-9)


def test_rejects_bad_arguments():
    x, y = _classes(1.0, 1.0)
    with pytest.raises(ValueError, match="chunk_size"):
        ncti_components(x, y, chunk_size=0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        ncti_components(x, np.zeros(len(y), dtype=int))
