"""TransRate: the coding-rate gain of knowing the labels."""

from __future__ import annotations

import math

import torch

from tunnellab.metrics.transferability._inputs import as_features, as_labels, class_index

__all__ = ["coding_rate", "transrate"]


def coding_rate(z: torch.Tensor, eps: float, n_total: int | None = None) -> torch.Tensor:
    """R(Z, ε) = ½ log det(I_d + d / (n ε²) ZᵀZ) for Z (n × d), n = ``n_total`` or Z's rows.

    Computed on the smaller Gram matrix (det(I + a ZᵀZ) = det(I + a ZZᵀ)).
    """
    n, d = z.shape
    scale = d / ((n if n_total is None else n_total) * eps**2)
    gram = z.T @ z if d <= n else z @ z.T
    eye = torch.eye(gram.shape[0], dtype=gram.dtype)
    return torch.linalg.slogdet(eye + scale * gram)[1] / 2


def transrate(features: object, labels: object, eps: float = 1e-2) -> float:
    """TransRate(Z, Y) = R(Z, ε) − Σ_c (n_c / n) R(Z_c, ε) (Huang et al., 2022).

    Z = the features centred by their overall mean; Z_c the rows of class c (not re-centred);
    R is :func:`coding_rate` with n = the rows of its argument. Higher = more transferable: the
    classes jointly span much volume while each fills little. ε sets the resolution and is
    scale-dependent (compare layers at one ε, on features of comparable scale). The authors'
    release averages the class rates with weight 1 / C and writes ε for ε²; here the weights are
    the class frequencies, as in the paper's maximal-coding-rate formulation.
    """
    if not eps > 0 or not math.isfinite(eps):
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    x = as_features(features)
    index, c = class_index(as_labels(labels, x.shape[0]))
    z = x - x.mean(dim=0)
    n = z.shape[0]
    conditional = torch.zeros((), dtype=z.dtype)
    for k in range(c):
        rows = z[index == k]
        conditional += rows.shape[0] / n * coding_rate(rows, eps)
    return float(coding_rate(z, eps) - conditional)
