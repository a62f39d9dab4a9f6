"""Leave-one-out k-nearest-neighbour accuracy, in chunks of queries."""

from __future__ import annotations

import torch

from tunnellab.metrics.transferability._inputs import as_features, as_labels, class_index

__all__ = ["loo_knn_accuracy"]

METRICS = ("cosine", "euclidean")


def loo_knn_accuracy(
    features: object,
    labels: object,
    k: int = 20,
    metric: str = "cosine",
    chunk_size: int = 1024,
) -> float:
    """The fraction of samples whose k nearest *other* samples vote for their own class.

    Each sample is classified by a uniform majority vote of its k nearest neighbours among the
    other n − 1 (cosine similarity or Euclidean distance); a tied vote goes to the lowest label
    (as scikit-learn's ``KNeighborsClassifier``). Queries run ``chunk_size`` at a time, so memory
    is chunk_size × n. Neighbours at exactly equal distance are taken in no set order.
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    x = as_features(features)
    n = x.shape[0]
    index, c = class_index(as_labels(labels, n), min_classes=1)
    if not 1 <= k <= n - 1:
        raise ValueError(f"k must be in [1, n − 1] = [1, {n - 1}], got {k!r}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be ≥ 1, got {chunk_size!r}")
    if metric == "cosine":
        x = x / x.norm(dim=1, keepdim=True).clamp_min(1e-300)
    squared = (x * x).sum(dim=1)
    correct = 0
    for start in range(0, n, chunk_size):
        queries = x[start : start + chunk_size]
        rows = torch.arange(start, start + queries.shape[0])
        score = queries @ x.T  # larger = nearer
        if metric == "euclidean":
            score = 2 * score - squared[None, :] - squared[rows, None]  # −‖q − x‖²
        score[torch.arange(queries.shape[0]), rows] = -torch.inf
        neighbours = torch.topk(score, k, dim=1, sorted=True).indices
        votes = torch.zeros(queries.shape[0], c, dtype=torch.int64)
        votes.scatter_add_(1, index[neighbours], torch.ones_like(neighbours))
        correct += int((votes.argmax(dim=1) == index[rows]).sum())
    return correct / n
