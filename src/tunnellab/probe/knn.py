"""k-nearest-neighbour probes on cached features: cosine similarity, weighted vote.

Each test sample takes the ``k`` training samples of highest cosine similarity and votes for
their labels with weight ``exp(sim / T)`` (the common kNN monitor of self-supervised learning;
``weighted=False`` gives every neighbour weight 1, a plain majority vote). Ties between classes
go to the lowest class index. The training split is read in chunks (memory-mapped features are
never loaded whole) and the running top-``k`` is merged chunk by chunk, in float32, on the CPU or
the given device: the same inputs always give the same predictions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from tunnellab.probe.features import SplitFeatures
from tunnellab.probe.heads import ProbeCurves

CHUNK_BYTES = 32 << 20  # float32 similarities of one (test chunk × train chunk) block


@dataclass(frozen=True)
class KnnRecipe:
    """``k`` neighbours and the vote temperature (k = 200, T = 0.1: the kNN monitor's values)."""

    k: int = 200
    temperature: float = 0.1
    weighted: bool = True


def _normalised(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    return F.normalize(x.to(device=device, dtype=torch.float32), dim=1)


@torch.no_grad()
def knn_predict(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    n_classes: int,
    recipe: KnnRecipe = KnnRecipe(),
    device: torch.device | str = "cpu",
    chunk_bytes: int = CHUNK_BYTES,
) -> torch.Tensor:
    """Predicted class of every row of ``test_x`` ``(M, D)`` from ``train_x`` ``(N, D)``."""
    device = torch.device(device)
    n_train, n_test = int(train_x.shape[0]), int(test_x.shape[0])
    if n_train == 0:
        raise ValueError("kNN needs at least one training sample")
    k = min(recipe.k, n_train)
    test = _normalised(test_x, device)
    labels = train_y.long().to(device)
    top_sim = torch.full((n_test, 0), -2.0, device=device)
    top_idx = torch.zeros((n_test, 0), dtype=torch.long, device=device)
    step = max(1, chunk_bytes // (4 * max(1, n_test)))
    for start in range(0, n_train, step):
        stop = min(n_train, start + step)
        sim = test @ _normalised(train_x[start:stop], device).T
        idx = torch.arange(start, stop, device=device).expand(n_test, -1)
        sim, idx = torch.cat([top_sim, sim], 1), torch.cat([top_idx, idx], 1)
        keep = min(k, sim.shape[1])
        top_sim, pos = sim.topk(keep, dim=1)
        top_idx = idx.gather(1, pos)
    weights = (top_sim / recipe.temperature).exp() if recipe.weighted else torch.ones_like(top_sim)
    votes = torch.zeros(n_test, n_classes, device=device, dtype=torch.float32)
    votes.scatter_add_(1, labels[top_idx], weights)
    return votes.argmax(dim=1).cpu()  # the first maximum: the lowest class index on ties


def knn_accuracies(
    train: SplitFeatures,
    test: SplitFeatures,
    n_classes: int,
    recipe: KnnRecipe = KnnRecipe(),
    device: torch.device | str = "cpu",
    train_labels: torch.Tensor | None = None,
) -> np.ndarray:
    """Test accuracy of a kNN probe at every tap (``train_labels`` replaces ``train.labels``)."""
    labels = train.labels if train_labels is None else train_labels
    acc = []
    for train_x, test_x in zip(train.features, test.features, strict=True):
        pred = knn_predict(train_x, labels, test_x, n_classes, recipe, device)
        acc.append(float((pred == test.labels.long()).float().mean()))
    train.release()
    test.release()
    return np.asarray(acc)


def knn_curves(acc: Sequence[float]) -> ProbeCurves:
    """kNN accuracies as probe curves: one "epoch", nothing to select (best = last = selected)."""
    history = np.asarray(acc, dtype=float)[None, :]
    return ProbeCurves(test_history=history, holdout_history=np.zeros_like(history))
