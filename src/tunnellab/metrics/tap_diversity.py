"""Per-tap diversity of one split's features: Vendi score and effective rank on a seeded sample.

The companion of :func:`tunnellab.metrics.representation.tap_diagnostics`: every tap is measured
on the same seeded rows (:func:`tunnellab.metrics.diversity.seeded_sample`), the Vendi score with
the cosine kernel. docs/diversity.md states the sample size and the kernel.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tunnellab.metrics.diversity import (
    DIVERSITY_SAMPLES,
    _as_matrix,
    effective_rank,
    seeded_sample,
    vendi_score,
)

__all__ = ["TAP_DIVERSITY_KERNEL", "tap_diversity"]

#: Kernel of the per-tap Vendi score.
TAP_DIVERSITY_KERNEL = "cosine"


def tap_diversity(
    features: Sequence[object],
    samples: int = DIVERSITY_SAMPLES,
    seed: int = 0,
    kernel: str = TAP_DIVERSITY_KERNEL,
) -> pd.DataFrame:
    """``tap_index`` (from 1), ``vendi``, ``effective_rank`` of every tap's (samples × dim)
    matrix, all on the same ``samples`` rows (seeded by ``seed``; all rows when fewer).

    The cosine Vendi score leaves out all-zero rows (no direction; NaN if every row is zero).
    """
    records = []
    rows = None
    for t, tap in enumerate(features):
        x = _as_matrix(f"features[{t}]", tap, min_rows=2)
        if rows is None:
            n_rows, rows = x.shape[0], seeded_sample(x.shape[0], samples, seed=seed)
        elif x.shape[0] != n_rows:
            raise ValueError(f"features[{t}] has {x.shape[0]} rows, tap 1 has {n_rows}")
        x = x[rows]
        nonzero = x[np.any(x != 0.0, axis=1)]  # an all-zero row has no direction (cosine)
        records.append(
            {
                "tap_index": t + 1,
                "vendi": vendi_score(nonzero, kernel=kernel) if len(nonzero) else math.nan,
                "effective_rank": effective_rank(x),
            }
        )
    return pd.DataFrame(records, columns=["tap_index", "vendi", "effective_rank"])
