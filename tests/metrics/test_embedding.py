"""t-SNE embeddings: seeded sample, reproducible coordinates, neighbourhoods kept (scikit-learn's
trustworthiness as the oracle), wide features reduced by PCA, global RNGs untouched."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE, trustworthiness
from threadpoolctl import threadpool_limits

from tunnellab.metrics.embedding import PCA_DIMS, sample_indices, tsne_embedding


def _blobs(n: int, d: int, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % k
    centres = rng.normal(size=(k, d)) * 8
    return (centres[labels] + rng.normal(size=(n, d))).astype(np.float32), labels


def test_sample_is_seeded_sorted_and_without_repeats() -> None:
    a = sample_indices(500, 100, seed=3)
    assert len(a) == 100 and len(set(a.tolist())) == 100
    assert np.all(np.diff(a) > 0) and a.min() >= 0 and a.max() < 500
    assert np.array_equal(a, sample_indices(500, 100, seed=3))
    assert not np.array_equal(a, sample_indices(500, 100, seed=4))
    assert np.array_equal(sample_indices(50, 100, seed=3), np.arange(50))  # all when fewer
    with pytest.raises(ValueError, match="max_points"):
        sample_indices(10, 0, seed=0)


def test_embedding_is_reproducible_and_keeps_neighbourhoods() -> None:
    x, labels = _blobs(120, 20)
    a = tsne_embedding(torch.from_numpy(x).half(), seed=0)
    assert a.shape == (120, 2) and a.dtype == np.float32
    assert np.array_equal(a, tsne_embedding(torch.from_numpy(x).half(), seed=0))
    assert trustworthiness(x, a, n_neighbors=5) > 0.9
    # Each point's nearest embedded neighbour is of its own blob.
    dist = ((a[:, None] - a[None]) ** 2).sum(-1) + np.eye(len(a)) * 1e9
    assert np.mean(labels[dist.argmin(1)] == labels) > 0.95


def test_wide_features_are_reduced_by_pca_first() -> None:
    x, _ = _blobs(80, PCA_DIMS + 30)
    ours = tsne_embedding(x, seed=2)
    centred = x - x.mean(0, keepdims=True)
    reduced = PCA(PCA_DIMS, svd_solver="full").fit_transform(centred).astype(np.float32)
    with threadpool_limits(1):
        tsne = TSNE(2, perplexity=min(30.0, 79 / 3), init="pca", random_state=2)
        oracle = tsne.fit_transform(reduced)
    np.testing.assert_allclose(ours, oracle, rtol=1e-4, atol=1e-4)


def test_degenerate_inputs_give_zeros_and_leave_global_rngs_alone() -> None:
    torch.manual_seed(7)
    np.random.seed(7)
    torch_state, np_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    assert not np.any(tsne_embedding(np.ones((10, 4)), seed=0))  # all equal
    assert tsne_embedding(np.zeros((2, 4)), seed=0).shape == (2, 2)
    tsne_embedding(_blobs(30, 5)[0], seed=0)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)
    with pytest.raises(ValueError, match="N, D"):
        tsne_embedding(np.zeros(5), seed=0)
