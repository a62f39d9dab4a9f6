"""Training-free layer scores of every tap, from features already extracted (``scores.csv``).

The H-score and GBC share one streaming pass of class statistics over all samples (float64
chunks of the fp16 features); LogME, TransRate, NCTI and the leave-one-out kNN accuracy read at
most ``max_samples`` rows, a seeded subset drawn with its own generator (the global RNG is never
touched). NCTI's terms are normalised over the taps scored together. Formulas: docs/scores.md.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch

from tunnellab.atomic import atomic_write
from tunnellab.data.arrays import DatasetSplits
from tunnellab.metrics.transferability import (
    ClassStats,
    gbc,
    hscore_regularised,
    logme,
    loo_knn_accuracy,
    ncti_combine,
    ncti_components,
    transrate,
)
from tunnellab.probe.stage import ProbeStage
from tunnellab.run_identity import SCORES

__all__ = [
    "ESTIMATORS",
    "SCORES",
    "SCORE_COLUMNS",
    "score_datasets",
    "score_taps",
    "write_scores",
]

ESTIMATORS = ("logme", "hscore", "gbc", "transrate", "ncti", "knn")
STREAMED = ("hscore", "gbc")
SCORE_COLUMNS = ["tap_index", "estimator", "score"]
CHUNK = 4096

_IN_MEMORY: dict[str, Callable[[torch.Tensor, torch.Tensor, int], float]] = {
    "logme": lambda x, y, k: logme(x, y),
    "transrate": lambda x, y, k: transrate(x, y),
    "knn": lambda x, y, k: loo_knn_accuracy(x, y, k=k),
}


def _subset(n: int, max_samples: int, seed: int) -> torch.Tensor | None:
    """A sorted seeded subset of ``max_samples`` row indices, or None when all rows fit."""
    if n <= max_samples:
        return None
    generator = torch.Generator().manual_seed(int(seed))
    return torch.randperm(n, generator=generator)[:max_samples].sort().values


def _class_stats(features: torch.Tensor, index: torch.Tensor, c: int) -> ClassStats:
    stats = ClassStats(c, int(features.shape[1]))
    for start in range(0, features.shape[0], CHUNK):
        chunk = features[start : start + CHUNK].to(torch.float64)
        stats.update(chunk, index[start : start + CHUNK])
    return stats


def score_taps(
    features: Sequence[torch.Tensor],
    labels: torch.Tensor,
    estimators: Sequence[str],
    seed: int,
    max_samples: int = 4096,
    knn_k: int = 20,
) -> pd.DataFrame:
    """One row per (tap, estimator): ``tap_index`` (from 1), ``estimator``, ``score``.

    ``features`` are the taps' (samples × width) matrices of one split, ``labels`` its class
    labels. Higher scores mean better-separated classes for every estimator.
    """
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValueError(f"unknown estimator(s) {unknown}; allowed: {', '.join(ESTIMATORS)}")
    labels = torch.as_tensor(labels).reshape(-1).to(torch.int64)
    classes, index = torch.unique(labels, sorted=True, return_inverse=True)
    c = int(classes.numel())
    subset = _subset(int(labels.numel()), max_samples, seed)
    sub_labels = index if subset is None else index[subset]
    k = max(1, min(knn_k, int(sub_labels.numel()) - 1))
    rows: list[dict[str, object]] = []
    ncti_terms: list[dict[str, float] | None] = []
    for tap, tap_features in enumerate(features, start=1):
        if any(e in STREAMED for e in estimators):
            stats = _class_stats(tap_features, index, c)
            if "hscore" in estimators:
                rows.append(
                    {
                        "tap_index": tap,
                        "estimator": "hscore",
                        "score": _safe(hscore_regularised, stats),
                    }
                )
            if "gbc" in estimators:
                rows.append({"tap_index": tap, "estimator": "gbc", "score": _safe(gbc, stats)})
        sample = tap_features if subset is None else tap_features[subset]
        sample = sample.to(torch.float64)
        for name in estimators:
            if name in _IN_MEMORY:
                score = _safe(_IN_MEMORY[name], sample, sub_labels, k)
                rows.append({"tap_index": tap, "estimator": name, "score": score})
        if "ncti" in estimators:
            try:
                ncti_terms.append(ncti_components(sample, sub_labels))
            except ValueError:  # e.g. one class present: no score for this tap
                ncti_terms.append(None)
    if ncti_terms:
        scored = [t for t in ncti_terms if t is not None]
        combined = iter(ncti_combine(scored))
        for tap, terms in enumerate(ncti_terms, start=1):
            value = float("nan") if terms is None else next(combined)
            rows.append({"tap_index": tap, "estimator": "ncti", "score": value})
    table = pd.DataFrame(rows, columns=SCORE_COLUMNS)
    order = {name: i for i, name in enumerate(estimators)}
    table["_order"] = table["estimator"].map(order)
    table = table.sort_values(["_order", "tap_index"], kind="stable").drop(columns="_order")
    return table.reset_index(drop=True)


def _safe(fn: Callable[..., float], *args: object) -> float:
    """The score, or NaN when the estimator cannot score this tap (e.g. one class present)."""
    try:
        return float(fn(*args))
    except (ValueError, ArithmeticError):
        return float("nan")


def score_datasets(
    stage: ProbeStage,
    id_data: DatasetSplits,
    ood_data: dict[str, DatasetSplits],
    keys: dict[str, object],
    estimators: Sequence[str],
    seed: int,
) -> pd.DataFrame:
    """``score_taps`` on the probe-train features of the ID and every OOD dataset.

    The features come from the stage's cache (the probes already extracted them), so the
    backbone does not run again. Columns: dataset, role, tap_index, tap_name, estimator, score.
    """
    tap_names = [t.name for t in stage.taps]
    tables = []
    roles = [(id_data, "id")] + [(data, "ood") for data in ood_data.values()]
    for data, role in roles:
        train = stage.features(data, "train", keys.get(data.name, data.name))
        table = score_taps(train.features, train.labels, estimators, seed)
        train.release()
        table.insert(0, "role", role)
        table.insert(0, "dataset", data.name)
        table.insert(3, "tap_name", [tap_names[i - 1] for i in table["tap_index"]])
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


def write_scores(run_dir: Path, scores: pd.DataFrame, run_id: str) -> dict[str, Path]:
    """``scores.csv`` in ``run_dir`` (atomic), with ``run_id`` as the first column."""
    table = scores.copy()
    table.insert(0, "run_id", run_id)
    path = atomic_write(run_dir / SCORES, lambda tmp: table.to_csv(tmp, index=False))
    return {"scores": path}
