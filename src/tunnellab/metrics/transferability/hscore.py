"""The regularised H-score: how much of the (shrunk) feature covariance the class means explain."""

from __future__ import annotations

import torch

from tunnellab.metrics.transferability.stats import ClassStats

__all__ = ["hscore_regularised"]


def hscore_regularised(stats: ClassStats) -> float:
    """H_α(f) = tr( Σ_α⁺ · (1 − α) Σ_B ), higher = more transferable.

    Bao et al. (2019) define the H-score tr(cov(f)⁻¹ cov(E[f | y])); Ibrahim et al. (2022) replace
    cov(f) by the Ledoit-Wolf shrinkage estimate Σ_α = (1 − α) Σ + α (tr Σ / d) I (and shrink the
    between-class covariance Σ_B by the same 1 − α) so the score is stable when d is large against
    n. Σ and Σ_B are population covariances (``ClassStats``); Σ_α⁺ is the pseudo-inverse
    (eigenvalues below d · eps × the largest are dropped). Needs ≥ 2 present classes.
    """
    if stats.present.numel() < 2:
        raise ValueError(f"the H-score needs at least 2 classes, got {stats.present.numel()}")
    shrunk, alpha = stats.shrunk_covariance()
    eigen, vectors = torch.linalg.eigh(shrunk)
    top = float(eigen.max().clamp_min(0.0))
    if top <= 0.0:
        return 0.0
    keep = eigen > stats.dim * torch.finfo(eigen.dtype).eps * top
    basis = vectors[:, keep]
    between = basis.T @ stats.between_covariance() @ basis
    return float((1 - alpha) * (torch.diagonal(between) / eigen[keep]).sum())
