"""Extracted features of one split held in memory, and the sink the extraction pass fills.

A *sink* receives the pooled fp16 features of every tap batch by batch, in sample order, and
returns the finished :class:`SplitFeatures`. :class:`MemorySink` writes them straight into one
preallocated ``(G, N, D)`` buffer per width group (each tap's tensor is a view of it), which is
the layout the probe trainer reads, so nothing is copied or restacked later;
:class:`tunnellab.probe.mapped.MappedSink` streams them to one file per tap instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

FEATURE_DTYPE = torch.float16
FEATURE_BYTES = 2  # bytes per stored feature value


def width_groups(dims: Sequence[int]) -> list[list[int]]:
    """Tap indices grouped by feature width, in order of first appearance."""
    groups: dict[int, list[int]] = {}
    for t, d in enumerate(dims):
        groups.setdefault(int(d), []).append(t)
    return list(groups.values())


@dataclass
class SplitFeatures:
    """Per-tap fp16 features ``(N, D_t)`` of one split, its labels and the backbone's logits.

    ``stacks``, when set, holds one ``(G, N, D)`` tensor per :func:`width_groups` group, and
    ``features`` are views of it.
    """

    features: list[torch.Tensor]
    labels: torch.Tensor
    logits: torch.Tensor
    stacks: list[torch.Tensor] | None = None

    @property
    def mapped(self) -> bool:
        """True when the features are memory-mapped files rather than RAM."""
        return False

    @property
    def dims(self) -> list[int]:
        return [int(f.shape[1]) for f in self.features]

    @property
    def nbytes(self) -> int:
        """Bytes of all tap features."""
        return sum(f.numel() * f.element_size() for f in self.features)

    def release(self) -> None:
        """Let go of resident pages of mapped storage (nothing to do in memory)."""

    def backbone_accuracy(self) -> float:
        """Top-1 of the backbone's own classifier (meaningful on the ID dataset only)."""
        return float((self.logits.argmax(1) == self.labels).float().mean())


def feature_bytes(n: int, dims: list[int]) -> int:
    """Bytes that ``n`` samples of taps with widths ``dims`` take as stored features."""
    return n * sum(dims) * FEATURE_BYTES


class FeatureSink(Protocol):
    """Where an extraction pass puts the features of a split."""

    def open(self, n: int, dims: list[int], n_logits: int, device: torch.device) -> None:
        """Called once, before the first batch, with the split size and every tap's width."""

    def write(self, start: int, features: list[torch.Tensor], logits: torch.Tensor) -> None:
        """Rows ``start : start + B`` of every tap (fp16, on the extraction device)."""

    def finish(self, labels: torch.Tensor) -> SplitFeatures:
        """The complete split."""


def stacked_buffers(n: int, dims: list[int], pin: bool = False) -> tuple[list, list]:
    """Empty fp16 width-group stacks for ``n`` samples and the per-tap views into them."""
    stacks, views = [], [torch.empty(0)] * len(dims)
    for taps in width_groups(dims):
        shape = (len(taps), n, dims[taps[0]])
        stacks.append(torch.empty(shape, dtype=FEATURE_DTYPE, pin_memory=pin))
        for i, t in enumerate(taps):
            views[t] = stacks[-1][i]
    return stacks, views


class MemorySink:
    """Preallocated CPU stacks (pinned when extracting on CUDA, so copies overlap compute)."""

    def __init__(self) -> None:
        self.stacks: list[torch.Tensor] = []
        self.buffers: list[torch.Tensor] = []
        self.logits = torch.empty(0)
        self._device = torch.device("cpu")

    def open(self, n: int, dims: list[int], n_logits: int, device: torch.device) -> None:
        pin = device.type == "cuda"
        self._device = device
        self.stacks, self.buffers = stacked_buffers(n, dims, pin)
        self.logits = torch.empty(n, n_logits, dtype=torch.float32, pin_memory=pin)

    def write(self, start: int, features: list[torch.Tensor], logits: torch.Tensor) -> None:
        stop = start + logits.shape[0]
        non_blocking = self._device.type == "cuda"
        for buffer, feature in zip(self.buffers, features, strict=True):
            buffer[start:stop].copy_(feature, non_blocking=non_blocking)
        self.logits[start:stop].copy_(logits, non_blocking=non_blocking)

    def finish(self, labels: torch.Tensor) -> SplitFeatures:
        if self._device.type == "cuda":
            torch.cuda.synchronize(self._device)
        return SplitFeatures(self.buffers, labels.clone(), self.logits, stacks=self.stacks)
