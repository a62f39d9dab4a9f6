"""kNN probes against scikit-learn (uniform vote) and a direct loop (weighted vote)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier

from tunnellab.probe.features import SplitFeatures
from tunnellab.probe.knn import KnnRecipe, knn_accuracies, knn_curves, knn_predict


def _blobs(n: int, d: int, classes: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gaussian blobs around centres shared by every call with the same (classes, d)."""
    centres = torch.randn(classes, d, generator=torch.Generator().manual_seed(classes * d))
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=gen)
    return centres[y] + 1.5 * torch.randn(n, d, generator=gen), y


@pytest.mark.parametrize("k", [1, 7, 40])
def test_uniform_vote_equals_sklearn_cosine_knn(k):
    x, y = _blobs(600, 12, 5, seed=0)
    q, _ = _blobs(150, 12, 5, seed=1)
    ours = knn_predict(x, y, q, 5, KnnRecipe(k=k, weighted=False), chunk_bytes=4 * 150 * 64)
    ref = KNeighborsClassifier(n_neighbors=k, metric="cosine", algorithm="brute")
    expected = ref.fit(x.numpy(), y.numpy()).predict(q.numpy())
    np.testing.assert_array_equal(ours.numpy(), expected)


def _naive_weighted(x, y, q, classes, k, t):
    xn = x / x.norm(dim=1, keepdim=True)
    out = []
    for row in q:
        sims = [(float(xn[i] @ (row / row.norm())), int(y[i])) for i in range(len(x))]
        sims.sort(key=lambda s: -s[0])
        score = [0.0] * classes
        for sim, label in sims[:k]:
            score[label] += np.exp(sim / t)
        out.append(int(np.argmax(score)))
    return np.array(out)


def test_weighted_vote_equals_a_direct_loop():
    x, y = _blobs(300, 8, 4, seed=2)
    q, _ = _blobs(60, 8, 4, seed=3)
    recipe = KnnRecipe(k=25, temperature=0.07)
    ours = knn_predict(x, y, q, 4, recipe, chunk_bytes=4 * 60 * 32)  # 10 train chunks
    np.testing.assert_array_equal(ours.numpy(), _naive_weighted(x, y, q, 4, 25, 0.07))


def test_chunking_and_fp16_storage_do_not_change_predictions():
    x, y = _blobs(500, 16, 6, seed=4)
    q, _ = _blobs(80, 16, 6, seed=5)
    x16, q16 = x.half(), q.half()
    whole = knn_predict(x16, y, q16, 6, KnnRecipe(k=30))
    chunked = knn_predict(x16, y, q16, 6, KnnRecipe(k=30), chunk_bytes=4 * 80 * 7)
    np.testing.assert_array_equal(whole.numpy(), chunked.numpy())


def test_k_above_the_training_size_uses_every_sample():
    x = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    q = torch.tensor([[0.1, 1.0]])
    uniform = knn_predict(x, y, q, 2, KnnRecipe(k=200, weighted=False))
    assert uniform.tolist() == [0]  # 2 votes to 1
    weighted = knn_predict(x, y, q, 2, KnnRecipe(k=200, temperature=0.05))
    assert weighted.tolist() == [1]  # the near neighbour's exp(sim/T) outweighs two far ones


def test_accuracies_per_tap_and_curves():
    x, y = _blobs(400, 10, 3, seed=6)
    q, qy = _blobs(100, 10, 3, seed=7)
    noise = torch.randn(400, 10, generator=torch.Generator().manual_seed(8))
    qnoise = torch.randn(100, 10, generator=torch.Generator().manual_seed(9))
    train = SplitFeatures([x.half(), noise.half()], y, torch.zeros(400, 3))
    test = SplitFeatures([q.half(), qnoise.half()], qy, torch.zeros(100, 3))
    acc = knn_accuracies(train, test, 3, KnnRecipe(k=10))
    assert acc[0] > 0.8 and acc[1] < 0.6  # informative tap vs noise tap
    curves = knn_curves(acc)
    np.testing.assert_array_equal(curves.acc_best, acc)
    np.testing.assert_array_equal(curves.acc_selected, acc)
