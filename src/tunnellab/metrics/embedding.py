"""2-D t-SNE embeddings of layer features (the paper's Figure 4), seeded and reproducible.

scikit-learn's Barnes-Hut t-SNE on at most a few thousand points; features
wider than :data:`PCA_DIMS` are first reduced by PCA, as is usual for t-SNE. Measured against
openTSNE on this project's CPUs (1,000 points: both ~1.5 s per embedding), so no extra dependency.
One thread: the same numbers on any machine, and no OpenMP spinning on a shared one.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

__all__ = ["PCA_DIMS", "sample_indices", "tsne_embedding"]

#: Features wider than this are reduced to this many principal components before t-SNE.
PCA_DIMS = 50


def sample_indices(n: int, max_points: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_points`` of ``n`` samples, drawn without replacement by a
    generator of its own seeded with ``seed`` (the global RNGs are left untouched)."""
    if max_points < 1:
        raise ValueError(f"max_points must be at least 1, got {max_points}")
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=max_points, replace=False))


def tsne_embedding(
    features: torch.Tensor | np.ndarray, seed: int, perplexity: float = 30.0
) -> np.ndarray:
    """``(N, 2)`` t-SNE coordinates of ``features`` ``(N, D)`` (float32 maths, PCA above
    :data:`PCA_DIMS` dims, PCA initialisation, ``random_state=seed``).

    The perplexity is capped below ``N`` as scikit-learn requires; fewer than 3 points, or
    features that are all equal, give zeros.
    """
    x = features.float().numpy() if isinstance(features, torch.Tensor) else features
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {x.shape}")
    n = x.shape[0]
    x = x - x.mean(axis=0, keepdims=True)
    if n < 3 or not np.any(x):
        return np.zeros((n, 2), dtype=np.float32)
    if x.shape[1] > PCA_DIMS and n > PCA_DIMS:
        with threadpool_limits(1):
            x = PCA(PCA_DIMS, svd_solver="full").fit_transform(x).astype(np.float32)
    tsne = TSNE(
        n_components=2,
        perplexity=min(perplexity, (n - 1) / 3),
        init="pca",
        random_state=seed,
        n_jobs=1,
    )
    with threadpool_limits(1):  # OpenMP threads spin badly on a busy machine (40x slower)
        return tsne.fit_transform(x).astype(np.float32)
