"""Gaussian Bhattacharyya Coefficient: overlap of per-class diagonal Gaussians."""

from __future__ import annotations

import torch

from tunnellab.metrics.transferability.stats import ClassStats

__all__ = ["bhattacharyya_coefficients", "gbc"]


def bhattacharyya_coefficients(stats: ClassStats, var_floor: float = 1e-8) -> torch.Tensor:
    """BC(c_i, c_j) = exp(−D_B) for every pair of present classes (C × C, 1 on the diagonal).

    Each class is N(μ_c, diag(σ²_c)) with σ²_c its per-feature population variance, floored at
    ``var_floor``. With σ² = (σ²_i + σ²_j) / 2 (per feature):
    D_B = ⅛ Σ_k (μ_ik − μ_jk)² / σ²_k + ½ Σ_k ln( σ²_k / √(σ²_ik σ²_jk) ).
    """
    if var_floor <= 0:
        raise ValueError(f"var_floor must be > 0, got {var_floor!r}")
    means = stats.class_means()
    var = stats.class_variances().clamp_min(var_floor)
    log_var = var.log()
    rows = []
    for i in range(means.shape[0]):  # one row at a time: C × d memory, not C² × d
        pooled = (var[i] + var) / 2
        mahal = ((means[i] - means) ** 2 / pooled).sum(dim=1) / 8
        logdet = (pooled.log() - (log_var[i] + log_var) / 2).sum(dim=1) / 2
        rows.append(torch.exp(-(mahal + logdet)))
    return torch.stack(rows)


def gbc(stats: ClassStats, var_floor: float = 1e-8) -> float:
    """GBC = −Σ_{i≠j} BC(c_i, c_j) over ordered pairs of classes (Pándy et al., 2022).

    0 when no two classes overlap, down to −C(C − 1) when all coincide; higher = more
    transferable. Pándy et al. first reduce the features by PCA (to 64 dimensions); do that
    before accumulating the statistics if wanted — this function uses the features as given.
    """
    if stats.present.numel() < 2:
        raise ValueError(f"GBC needs at least 2 classes, got {stats.present.numel()}")
    coefficients = bhattacharyya_coefficients(stats, var_floor)
    off_diagonal = coefficients.sum() - torch.diagonal(coefficients).sum()
    return float(-off_diagonal)
