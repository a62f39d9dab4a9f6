"""LogME: the maximised log marginal evidence of a Bayesian linear model on the features."""

from __future__ import annotations

import math

import torch

from tunnellab.metrics.transferability._inputs import as_features, as_labels, class_index

__all__ = ["logme", "logme_evidence"]


def _spectrum(f: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """σ_i (eigenvalues of FᵀF, the min(n, d) of them that can be nonzero) and q²_i per target,
    q = Vᵀ Fᵀ y with V the eigenvectors, from the smaller Gram matrix."""
    n, d = f.shape
    if d <= n:
        sigma, vectors = torch.linalg.eigh(f.T @ f)
        q2 = (vectors.T @ (f.T @ targets)) ** 2
    else:
        sigma, u = torch.linalg.eigh(f @ f.T)  # FFᵀ = U diag(σ) Uᵀ, s_i z_i = q_i, z = Uᵀy
        q2 = sigma.clamp_min(0.0)[:, None] * (u.T @ targets) ** 2
    return sigma.clamp_min(0.0), q2


PRECISION_MIN, PRECISION_MAX = 1e-10, 1e10  # bounds of α and β in the fixed-point iteration


def logme_evidence(
    sigma: torch.Tensor,
    q2: torch.Tensor,
    y2: float,
    n: int,
    d: int,
    tol: float = 1e-6,
    max_iter: int = 100,
) -> tuple[float, float, float]:
    """The evidence per sample of one target at the fixed point of (α, β), and α, β.

    Model: y = Fw + noise, w ~ N(0, α⁻¹ I_d), noise ~ N(0, β⁻¹ I_n). With A = αI + βFᵀF,
    m = β A⁻¹ Fᵀ y and γ = Σ_i βσ_i / (α + βσ_i), MacKay's updates α ← γ / mᵀm,
    β ← (n − γ) / ‖Fm − y‖² run until α/β changes by < ``tol`` (relative). The evidence is
    L = d/2 ln α + n/2 ln β − n/2 ln 2π − β/2 ‖Fm − y‖² − α/2 mᵀm − ½ ln det A, returned as L / n.
    ``sigma``: eigenvalues of FᵀF (the others are 0); ``q2``: (Vᵀ Fᵀ y)²; ``y2`` = ‖y‖².
    """
    alpha, beta = 1.0, 1.0

    def terms(alpha: float, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        denom = alpha + beta * sigma
        m2 = (beta**2 * q2 / denom**2).sum()
        residual = y2 - (q2 * (beta**2 * sigma + 2 * alpha * beta) / denom**2).sum()
        gamma = (beta * sigma / denom).sum()
        return m2, residual.clamp_min(1e-300), gamma

    for _ in range(max_iter):
        m2, residual, gamma = terms(alpha, beta)
        # Capped: where the features fit a target exactly (n <= d, say) the residual goes to
        # 0 and β to infinity; the cap keeps the evidence finite (and large) there.
        new_alpha = min(max(float(gamma / m2.clamp_min(1e-300)), PRECISION_MIN), PRECISION_MAX)
        new_beta = min(max(float((n - gamma) / residual), PRECISION_MIN), PRECISION_MAX)
        converged = abs(new_alpha / new_beta - alpha / beta) <= tol * (alpha / beta)
        alpha, beta = new_alpha, new_beta
        if converged:
            break
    m2, residual, _ = terms(alpha, beta)
    logdet = torch.log(alpha + beta * sigma).sum() + (d - sigma.numel()) * math.log(alpha)
    evidence = (
        d / 2 * math.log(alpha)
        + n / 2 * math.log(beta)
        - n / 2 * math.log(2 * math.pi)
        - beta / 2 * residual
        - alpha / 2 * m2
        - logdet / 2
    )
    return float(evidence) / n, alpha, beta


def logme(features: object, labels: object, tol: float = 1e-6, max_iter: int = 100) -> float:
    """LogME (You et al., 2021): the mean over classes of the maximised evidence per sample.

    Each class c gives a one-vs-all target y_c ∈ {0, 1}ⁿ; :func:`logme_evidence` maximises its
    evidence over (α, β) and the score is the average of the C values (higher = more
    transferable). The features are used as given (no centring), as in the paper; one
    eigendecomposition of the smaller Gram matrix serves every class.
    """
    f = as_features(features)
    index, c = class_index(as_labels(labels, f.shape[0]))
    n, d = f.shape
    targets = torch.nn.functional.one_hot(index, c).to(f.dtype)
    sigma, q2 = _spectrum(f, targets)
    scores = [
        logme_evidence(sigma, q2[:, k], float(targets[:, k].sum()), n, d, tol, max_iter)[0]
        for k in range(c)
    ]
    return sum(scores) / c
