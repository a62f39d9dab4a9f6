"""NCTI: how far a layer's features are from neural collapse on the target classes.

After Wang et al. (2023), three terms per candidate, each min-max normalised over the candidates
(the taps being ranked) and summed (:func:`ncti_combine`):

- **variability collapse** ``vc`` = −Σ_c ‖H_c − 1μ_cᵀ‖_* / ‖H − 1μᵀ‖_*: the nuclear norm of every
  class's rows around its own mean, against that of all rows around the overall mean (0 when
  every class has collapsed onto its mean);
- **geometry** ``seli`` = ‖H − 1μᵀ‖_* / (√n ‖H − 1μᵀ‖_F) = Σ_k √λ_k / √(Σ_k λ_k), λ the
  eigenvalues of the covariance: 1 for rank-one features, √rank for isotropic ones (a larger
  nuclear norm = features nearer full rank, the paper's proxy for the SELI geometry);
- **nearest centre** ``ncc`` = the mean posterior of the true class under Gaussian classes with
  the class means, one shared (shrunk) within-class covariance and the class frequencies as priors.

Deviations from the paper (docs/scores.md): the variability term reads the features, not
classifier logits, and both nuclear-norm terms are divided by the overall one so that layers of
different width and scale compare.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from tunnellab.metrics.transferability._inputs import DTYPE, as_features, as_labels, class_index
from tunnellab.metrics.transferability.stats import ClassStats

__all__ = ["NCTI_TERMS", "ncti_combine", "ncti_components"]

NCTI_TERMS = ("vc", "seli", "ncc")


def _nuclear_from_covariance(cov: torch.Tensor, n: int) -> float:
    """‖Z‖_* of n rows whose population covariance (around their mean) is ``cov``."""
    return float(torch.linalg.eigvalsh(cov).clamp_min(0.0).sqrt().sum()) * math.sqrt(n)


def _class_covariance(rows: torch.Tensor) -> torch.Tensor:
    z = rows - rows.mean(dim=0)
    return z.T @ z / rows.shape[0] if z.shape[1] <= z.shape[0] else z @ z.T / rows.shape[0]


def ncti_components(
    features: object, labels: object, chunk_size: int = 4096, floor: float = 1e-6
) -> dict[str, float]:
    """The three NCTI terms of one candidate: ``{"vc", "seli", "ncc"}`` (higher = better).

    The class statistics come from one streaming pass (:class:`ClassStats`); the posteriors from
    a second pass over ``chunk_size`` rows at a time. The shared covariance is the within-class
    one shrunk as Ledoit and Wolf shrink the total, (1 − α) Σ_W + α (tr Σ_W / d) I, plus
    ``floor`` × (tr Σ / d) I so that collapsed classes stay invertible.
    """
    if chunk_size < 1 or not floor > 0:
        raise ValueError(f"chunk_size must be ≥ 1 and floor > 0, got {chunk_size!r}, {floor!r}")
    x = as_features(features)
    index, c = class_index(as_labels(labels, x.shape[0]))
    n, d = x.shape
    stats = ClassStats(c, d)
    for start in range(0, n, chunk_size):
        stats.update(x[start : start + chunk_size], index[start : start + chunk_size])
    cov = stats.covariance()
    total_nuclear = _nuclear_from_covariance(cov, n)
    scale = float(torch.trace(cov)) / d
    if total_nuclear <= 0.0 or scale <= 0.0:  # every sample the same: nothing to rank
        return {"vc": 0.0, "seli": 1.0, "ncc": 1.0 / c}
    within_nuclear = sum(
        _nuclear_from_covariance(_class_covariance(x[index == k]), int((index == k).sum()))
        for k in range(c)
    )
    seli = total_nuclear / math.sqrt(n * float(torch.trace(cov)))

    alpha = stats.ledoit_wolf_shrinkage()
    within = stats.within_covariance()
    eye = torch.eye(d, dtype=DTYPE)
    shared = (1 - alpha) * within + alpha * float(torch.trace(within)) / d * eye
    shared = shared + floor * scale * eye
    precision = torch.linalg.inv((shared + shared.T) / 2)
    centre = stats.mean()
    means = stats.class_means() - centre
    log_prior = torch.log(stats.class_counts() / n)
    projected = means @ precision  # C × d
    constant = -0.5 * (projected * means).sum(dim=1) + log_prior
    correct = torch.zeros((), dtype=DTYPE)
    for start in range(0, n, chunk_size):
        z = x[start : start + chunk_size] - centre
        # −½ (z − μ_c)ᵀ P (z − μ_c) + ln π_c, without the −½ zᵀPz common to every class
        logits = z @ projected.T + constant
        posterior = torch.softmax(logits, dim=1)
        rows = index[start : start + chunk_size]
        correct += posterior.gather(1, rows[:, None]).sum()
    return {"vc": -within_nuclear / total_nuclear, "seli": seli, "ncc": float(correct) / n}


def ncti_combine(components: Sequence[dict[str, float]]) -> list[float]:
    """NCTI of each candidate: Σ over the terms of (term − min) / (max − min) over candidates.

    A term equal for every candidate adds 0. In [0, 3]; higher = more transferable. The scores
    rank the candidates given together and mean nothing across separate calls.
    """
    if not components:
        return []
    totals = [0.0] * len(components)
    for term in NCTI_TERMS:
        values = [float(c[term]) for c in components]
        low, high = min(values), max(values)
        if high - low <= 1e-12 * max(abs(high), abs(low), 1.0):
            continue
        for i, v in enumerate(values):
            totals[i] += (v - low) / (high - low)
    return totals
