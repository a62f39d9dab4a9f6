"""Streaming per-class statistics of a layer's features: one pass, float64, any chunking.

``ClassStats`` accumulates, chunk by chunk, per-class counts, sums and squared sums (for diagonal
variances) and the total sum, second moment and fourth-moment terms (for the Ledoit-Wolf
shrinkage). Everything is kept relative to a fixed shift (the first chunk's mean), so the
second moments do not lose digits to a large common offset. The result does not depend on how the
samples are chunked (up to rounding).
"""

from __future__ import annotations

import torch

from tunnellab.metrics.transferability._inputs import DTYPE, as_features, as_labels

__all__ = ["ClassStats"]


class ClassStats:
    """Per-class counts, means, diagonal variances; total mean, covariance and shrinkage.

    Labels are class indices in ``[0, num_classes)``. Classes never seen are left out of the
    per-class outputs (``present`` says which are kept). Covariances are population ones (÷ n).
    """

    def __init__(self, num_classes: int, dim: int) -> None:
        if num_classes < 1 or dim < 1:
            raise ValueError(f"num_classes and dim must be ≥ 1, got {num_classes} and {dim}")
        self.num_classes, self.dim = int(num_classes), int(dim)
        self.shift: torch.Tensor | None = None
        self.counts = torch.zeros(num_classes, dtype=DTYPE)
        self.sums = torch.zeros(num_classes, dim, dtype=DTYPE)
        self.squares = torch.zeros(num_classes, dim, dtype=DTYPE)
        self.gram = torch.zeros(dim, dim, dtype=DTYPE)
        self.norm2_sum = torch.zeros((), dtype=DTYPE)  # Σ‖y‖²
        self.norm4_sum = torch.zeros((), dtype=DTYPE)  # Σ‖y‖⁴
        self.norm2_weighted = torch.zeros(dim, dtype=DTYPE)  # Σ‖y‖² y

    @classmethod
    def from_features(
        cls, features: object, labels: object, num_classes: int | None = None
    ) -> ClassStats:
        """The statistics of one in-memory (samples × dim) matrix and its class indices."""
        x = as_features(features)
        y = as_labels(labels, x.shape[0])
        stats = cls(int(y.max()) + 1 if num_classes is None else num_classes, x.shape[1])
        stats.update(x, y)
        return stats

    def update(self, features: object, labels: object) -> ClassStats:
        """Add one chunk: ``features`` (samples × dim), ``labels`` (class indices)."""
        x = as_features(features)
        y = as_labels(labels, x.shape[0])
        if x.shape[1] != self.dim:
            raise ValueError(
                f"features has {x.shape[1]} columns but the statistics have dim {self.dim}"
            )
        if bool((y < 0).any()) or bool((y >= self.num_classes).any()):
            raise ValueError(
                f"labels must be class indices in [0, {self.num_classes}), "
                f"got values from {int(y.min())} to {int(y.max())}"
            )
        if self.shift is None:
            self.shift = x.mean(dim=0)
        z = x - self.shift
        norm2 = (z * z).sum(dim=1)
        self.counts += torch.bincount(y, minlength=self.num_classes).to(DTYPE)
        self.sums.index_add_(0, y, z)
        self.squares.index_add_(0, y, z * z)
        self.gram += z.T @ z
        self.norm2_sum += norm2.sum()
        self.norm4_sum += (norm2 * norm2).sum()
        self.norm2_weighted += norm2 @ z
        return self

    # ---- totals -------------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Samples seen."""
        return int(self.counts.sum())

    def _check(self) -> None:
        if self.n < 1 or self.shift is None:
            raise ValueError("ClassStats has seen no samples yet")

    def mean(self) -> torch.Tensor:
        """The mean of all samples (dim)."""
        self._check()
        return self.shift + self.sums.sum(dim=0) / self.n

    def covariance(self) -> torch.Tensor:
        """The population covariance of all samples (dim × dim)."""
        self._check()
        centre = self.sums.sum(dim=0) / self.n
        cov = self.gram / self.n - torch.outer(centre, centre)
        return (cov + cov.T) / 2

    # ---- per class ----------------------------------------------------------------------------
    @property
    def present(self) -> torch.Tensor:
        """Indices of the classes seen at least once."""
        return torch.nonzero(self.counts > 0).reshape(-1)

    def class_counts(self) -> torch.Tensor:
        """Samples per present class (C)."""
        return self.counts[self.present]

    def class_means(self) -> torch.Tensor:
        """Means of the present classes (C × dim)."""
        self._check()
        keep = self.present
        return self.shift + self.sums[keep] / self.counts[keep, None]

    def class_variances(self) -> torch.Tensor:
        """Per-feature population variances of the present classes (C × dim)."""
        self._check()
        keep = self.present
        centre = self.sums[keep] / self.counts[keep, None]
        return (self.squares[keep] / self.counts[keep, None] - centre**2).clamp_min(0.0)

    def between_covariance(self) -> torch.Tensor:
        """Σ_B = Σ_c (n_c / n)(μ_c − μ)(μ_c − μ)ᵀ: the covariance of each sample's class mean."""
        diff = self.class_means() - self.mean()
        weights = self.class_counts() / self.n
        return (diff * weights[:, None]).T @ diff

    def within_covariance(self) -> torch.Tensor:
        """Σ_W = Σ − Σ_B: the covariance of the samples around their class means."""
        within = self.covariance() - self.between_covariance()
        return (within + within.T) / 2

    # ---- shrinkage ----------------------------------------------------------------------------
    def centred_norm4_sum(self) -> torch.Tensor:
        """Σ_i ‖x_i − μ‖⁴, from the shifted moments (no second pass)."""
        self._check()
        n = self.n
        m = self.sums.sum(dim=0) / n  # the mean in shifted coordinates
        mm = m @ m
        total = self.sums.sum(dim=0)
        return (
            self.norm4_sum
            + 4 * (m @ self.gram @ m)
            + n * mm**2
            - 4 * (self.norm2_weighted @ m)
            + 2 * mm * self.norm2_sum
            - 4 * mm * (total @ m)
        )

    def ledoit_wolf_shrinkage(self) -> float:
        """Ledoit & Wolf's (2004) optimal shrinkage α of Σ towards (tr Σ / d) I, in [0, 1].

        δ = ‖Σ − μI‖²_F / d with μ = tr Σ / d; β = (Σ_i ‖x_i − x̄‖⁴ / n − ‖Σ‖²_F) / (d n);
        α = min(β, δ) / δ (0 when δ = 0), the estimator scikit-learn's ``ledoit_wolf`` uses.
        """
        cov = self.covariance()
        d, n = self.dim, self.n
        mu = torch.trace(cov) / d
        frob = (cov * cov).sum()
        delta = (frob - 2 * mu * torch.trace(cov) + d * mu**2) / d
        beta = (self.centred_norm4_sum() / n - frob) / (d * n)
        if float(delta) <= 0.0:
            return 0.0
        return float(torch.clamp(torch.minimum(beta, delta) / delta, 0.0, 1.0))

    def shrunk_covariance(self) -> tuple[torch.Tensor, float]:
        """(1 − α) Σ + α (tr Σ / d) I with α the Ledoit-Wolf shrinkage, and α."""
        alpha = self.ledoit_wolf_shrinkage()
        cov = self.covariance()
        target = torch.trace(cov) / self.dim * torch.eye(self.dim, dtype=DTYPE)
        return (1 - alpha) * cov + alpha * target, alpha
