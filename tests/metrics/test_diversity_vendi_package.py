"""Our Vendi score against the authors' own package (``vendi-score``, a test-only dependency)."""

from __future__ import annotations

import numpy as np
import pytest
from vendi_score import vendi

from tunnellab.metrics.diversity import vendi_score


@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, np.inf])
@pytest.mark.parametrize(("n", "d"), [(40, 8), (12, 30)])  # the d×d path, then the n×n path
def test_cosine_kernel_equals_the_package(q, n, d):
    x = np.random.default_rng(int(n * d)).normal(size=(n, d))
    z = x / np.linalg.norm(x, axis=1, keepdims=True)  # the cosine kernel
    # score_K, not score_X: vendi-score 0.0.3's score_X passes q=1 on whatever q it is given
    theirs = vendi.score_K(z @ z.T, q="inf" if q == np.inf else q)
    # rel 1e-6: with q < 1 the package's n×n spectrum lifts its rounding-level eigenvalues
    # (≈ 1e-16, n - d of them) to ≈ 1e-8 each; our d×d path has none
    assert vendi_score(x, kernel="cosine", q=q) == pytest.approx(theirs, rel=1e-6)
    if q == 1.0:
        assert vendi.score_X(x, normalize=True) == pytest.approx(theirs, rel=1e-9)


@pytest.mark.parametrize("q", [1.0, 2.0])
def test_linear_kernel_equals_the_package_on_a_trace_n_kernel(q):
    x = np.random.default_rng(3).normal(size=(25, 6)) * np.arange(1, 7)
    k = x @ x.T
    k *= len(x) / np.trace(k)  # the package divides K by n: give it a kernel of trace n
    assert vendi_score(x, kernel="linear", q=q) == pytest.approx(vendi.score_K(k, q=q), rel=1e-9)


def test_clustered_data_scores_near_the_cluster_count_in_both():
    rng = np.random.default_rng(5)
    centres = np.eye(6)[:4] * 10
    x = np.repeat(centres, 15, axis=0) + rng.normal(scale=0.01, size=(60, 6))
    ours, theirs = vendi_score(x), vendi.score_X(x, normalize=True)
    assert ours == pytest.approx(theirs, rel=1e-9)
    assert 3.9 < ours < 4.1
