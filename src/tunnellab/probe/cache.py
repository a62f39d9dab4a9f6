"""Feature cache: extracted features keyed by what determines them, reused by later probe runs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tunnellab.probe.extract import SplitFeatures


def model_fingerprint(model: nn.Module) -> str:
    """A hash of the model's weights and buffers (same weights → same fingerprint)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(
            tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()[:16]


def cache_key(**parts: Any) -> str:
    """A short stable key from JSON-serialisable parts (checkpoint, dataset, split, taps, ...)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:20]


class FeatureCache:
    """Stores :class:`SplitFeatures` as ``<root>/<key>.pt``; ``root=None`` disables caching."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: str, compute: Callable[[], SplitFeatures]) -> SplitFeatures:
        path = self.root / f"{key}.pt" if self.root is not None else None
        if path is not None and path.is_file():
            self.hits += 1
            return SplitFeatures(**torch.load(path, weights_only=True))
        self.misses += 1
        result = compute()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(
                {"features": result.features, "labels": result.labels, "logits": result.logits}, tmp
            )
            tmp.replace(path)
        return result
