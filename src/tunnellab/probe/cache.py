"""Feature cache: extracted features keyed by what determines them, reused by later probe runs.

Two kinds of entry, both written atomically (a temporary name, then a rename):

* ``<root>/<key>.pt`` — a split held in RAM (``torch.save`` of features, labels, logits);
* ``<root>/<key>/`` — a split streamed to memory-mapped files (see :mod:`tunnellab.probe.mapped`).

A lookup serves an entry in the form the RAM budget asks for: a directory entry is mapped or read
fully; a ``.pt`` entry serves only in memory (a split that no longer fits the budget is extracted
again, straight to files). Entry sizes come from the manifest or the ``.pt`` header, so a hit
never runs the backbone.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tunnellab.atomic import atomic_write
from tunnellab.probe.features import FeatureSink, MemorySink, SplitFeatures, feature_bytes
from tunnellab.probe.mapped import (
    MANIFEST,
    MappedSink,
    load_mapped_into_memory,
    open_mapped,
    read_manifest,
)


def model_fingerprint(model: nn.Module) -> str:
    """A hash of the model's weights and buffers and of its module structure: same weights in the
    same architecture → same fingerprint (VGGm-11 and VGGm-11† share every weight name and shape;
    only their pooling differs)."""
    digest = hashlib.sha256()
    digest.update(re.sub(r" at 0x[0-9a-fA-F]+", "", repr(model)).encode())
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
    """Stores :class:`SplitFeatures` under ``root``; ``root=None`` disables caching (mapped splits
    then go to a temporary directory removed when the cache object is collected)."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root is not None else None
        self.hits = 0
        self.misses = 0
        self._scratch: Path | None = None

    def _dir(self) -> Path:
        if self.root is not None:
            return self.root
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="tunnellab-features-"))
            weakref.finalize(self, shutil.rmtree, self._scratch, ignore_errors=True)
        return self._scratch

    def load(self, key: str, streams: Callable[[int], bool]) -> SplitFeatures | None:
        """The stored entry, memory-mapped when ``streams(feature bytes)`` says so, else in RAM;
        None when there is none (or only a ``.pt`` entry that is now over the budget)."""
        if self.root is None:
            return None
        directory = self.root / key
        if (directory / MANIFEST).is_file():
            manifest = read_manifest(directory)
            if streams(feature_bytes(manifest["n"], manifest["dims"])):
                return open_mapped(directory)
            return load_mapped_into_memory(directory)
        path = self.root / f"{key}.pt"
        if path.is_file():
            # Mapped loading reads only the header: the shapes decide before any data is read.
            stored = SplitFeatures(**torch.load(path, weights_only=True, mmap=True))
            if not streams(stored.nbytes):
                return stored
        return None

    def get_or_compute(
        self,
        key: str,
        compute: Callable[[FeatureSink], SplitFeatures],
        streams: Callable[[int], bool] = lambda nbytes: False,
        estimate_bytes: Callable[[], int] | None = None,
    ) -> SplitFeatures:
        """The entry ``key``, else ``compute(sink)``: into RAM, or into memory-mapped files when
        ``streams(estimate_bytes())`` (the estimate is only asked for on a miss)."""
        found = self.load(key, streams)
        if found is not None:
            self.hits += 1
            return found
        self.misses += 1
        if estimate_bytes is not None and streams(estimate_bytes()):
            return self._compute_mapped(key, compute)
        result = compute(MemorySink())
        if self.root is not None:
            self._save_pt(key, result)
        return result

    def _save_pt(self, key: str, result: SplitFeatures) -> None:
        path = self.root / f"{key}.pt"
        path.parent.mkdir(parents=True, exist_ok=True)
        state = {
            "features": result.features,
            "labels": result.labels,
            "logits": result.logits,
            "stacks": result.stacks,  # stored once: the features are views of it
        }
        atomic_write(path, lambda tmp: torch.save(state, tmp))  # a full disk names the file

    def _compute_mapped(
        self, key: str, compute: Callable[[FeatureSink], SplitFeatures]
    ) -> SplitFeatures:
        parent = self._dir()
        parent.mkdir(parents=True, exist_ok=True)
        staging = parent / f".{key}.{uuid.uuid4().hex}.tmp"
        final = parent / key
        try:
            compute(MappedSink(staging))
            try:
                staging.rename(final)
            except OSError:  # another process finished the same entry first
                if not (final / MANIFEST).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return open_mapped(final)
