"""Where the probe trainer reads its minibatches: stacked in-memory groups or per-tap files.

Both sources fill the same thing, a float32 ``(G, B, D)`` buffer on the compute device for the
``G`` taps of one width group, so a run reads bit-identical inputs either way:

* :class:`StackedSource` reads each group from one ``(G, N, D)`` fp16 stack — the extraction's
  own buffers, moved to the GPU when they fit there — with one ``index_select`` per step;
* :class:`PerTapSource` never stacks a group: it gathers each tap's rows from its own (possibly
  memory-mapped) tensor, a few rows at a time, and releases touched pages every ``window_bytes``,
  so memory stays bounded by the window, not the split.

Buffers are allocated once per shape and reused: on a VM a fresh multi-megabyte allocation costs
a page fault per 4 KiB, which would otherwise dominate a probe step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from tunnellab.probe.features import FEATURE_DTYPE, SplitFeatures

# What reading one scattered row of a mapped file can add to the resident set: the kernel maps
# the pages around a fault (fault-around) or a whole large folio, measured here at ~120 KiB.
FAULT_BYTES = 128 << 10
GPU_FEATURE_SHARE = 0.5  # features go to the GPU when they need at most this share of free memory


def gpu_fits(nbytes: int, device: torch.device) -> bool:
    """Whether ``nbytes`` of features fit comfortably in the free memory of a CUDA device."""
    if device.type != "cuda":
        return False
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes <= GPU_FEATURE_SHARE * free


class _Buffers:
    """Reusable tensors by (purpose, shape); a returned buffer is valid until the same key is
    asked for again."""

    def __init__(self) -> None:
        self._cache: dict[tuple, torch.Tensor] = {}

    def get(self, key: str, shape: tuple[int, ...], dtype, device) -> torch.Tensor:
        full = (key, shape, dtype, device)
        if full not in self._cache:
            self._cache[full] = torch.empty(shape, dtype=dtype, device=device)
        return self._cache[full]


class StackedSource:
    """In-memory features stacked per width group, gathered with one op per group and step."""

    def __init__(
        self,
        stacks: list[torch.Tensor],
        compute: torch.device,
        storage: torch.device,
    ) -> None:
        self.compute = compute
        self.storage = storage
        self.stacks = [s.to(storage) for s in stacks]
        self._buffers = _Buffers()

    @classmethod
    def from_features(
        cls,
        features: Sequence[torch.Tensor],
        groups: list[list[int]],
        compute: torch.device,
        storage: torch.device,
    ) -> StackedSource:
        """Stack per-tap tensors (one copy) when they are not views of group stacks already."""
        stacks = []
        for taps in groups:
            first = features[taps[0]]
            stack = torch.empty((len(taps), *first.shape), dtype=FEATURE_DTYPE, device=storage)
            for i, t in enumerate(taps):
                stack[i].copy_(features[t])
            stacks.append(stack)
        return cls(stacks, compute, storage)

    def _out(self, group: int, n: int) -> torch.Tensor:
        g, _, d = self.stacks[group].shape
        return self._buffers.get("x", (g, n, d), torch.float32, self.compute)

    def batch(self, group: int, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (CPU int64) of every tap of ``group`` as float32 ``(G, B, D)``."""
        stack = self.stacks[group]
        shape = (stack.shape[0], len(index), stack.shape[2])
        staged = self._buffers.get("rows", shape, FEATURE_DTYPE, self.storage)
        torch.index_select(stack, 1, index.to(self.storage), out=staged)
        # A host buffer is refilled next step: its copy to the GPU must finish first (blocking).
        return self._out(group, len(index)).copy_(staged)

    def rows(self, group: int, start: int, stop: int) -> torch.Tensor:
        """Contiguous rows ``start:stop`` of every tap of ``group`` as float32 ``(G, C, D)``."""
        return self._out(group, stop - start).copy_(self.stacks[group][:, start:stop])

    def release(self) -> None:
        """Nothing to release in memory."""


class PerTapSource:
    """Features read tap by tap, a few rows at a time; never holds more than a minibatch.

    ``release`` is called whenever about ``window_bytes`` of pages may have been mapped since
    the last call (memory-mapped features drop those pages from the process's resident set).
    """

    def __init__(
        self,
        features: Sequence[torch.Tensor],
        groups: list[list[int]],
        compute: torch.device,
        release: Callable[[], None] | None = None,
        window_bytes: int = 64 << 20,
    ) -> None:
        self.features = features
        self.groups = groups
        self.compute = compute
        self._release = release
        self.window_bytes = window_bytes
        self.read_rows = max(8, window_bytes // (4 * FAULT_BYTES))
        self._touched = 0
        self._buffers = _Buffers()

    def _staged(self, group: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        taps = self.groups[group]
        shape = (len(taps), n, self.features[taps[0]].shape[1])
        staged = self._buffers.get("rows", shape, FEATURE_DTYPE, torch.device("cpu"))
        return staged, self._buffers.get("x", shape, torch.float32, self.compute)

    def batch(self, group: int, index: torch.Tensor) -> torch.Tensor:
        """Rows ``index`` (sorted CPU int64, for locality) as float32 ``(G, B, D)``."""
        staged, out = self._staged(group, len(index))
        for i, t in enumerate(self.groups[group]):
            feature = self.features[t]
            per_row = max(feature.shape[1] * feature.element_size(), FAULT_BYTES)
            for start in range(0, len(index), self.read_rows):
                rows = index[start : start + self.read_rows]
                torch.index_select(feature, 0, rows, out=staged[i, start : start + len(rows)])
                self._touch(len(rows) * per_row)
        return out.copy_(staged)

    def rows(self, group: int, start: int, stop: int) -> torch.Tensor:
        """Contiguous rows ``start:stop`` as float32 ``(G, C, D)``."""
        staged, out = self._staged(group, stop - start)
        for i, t in enumerate(self.groups[group]):
            feature = self.features[t]
            staged[i].copy_(feature[start:stop])
            self._touch((stop - start) * feature.shape[1] * feature.element_size() + FAULT_BYTES)
        return out.copy_(staged)

    def _touch(self, nbytes: int) -> None:
        self._touched += nbytes
        if self._touched >= self.window_bytes:
            self.release()

    def release(self) -> None:
        """Release touched pages now (no-op for RAM-backed features)."""
        if self._release is not None:
            self._release()
        self._touched = 0


FeatureSource = StackedSource | PerTapSource


def make_source(
    features: SplitFeatures | Sequence[torch.Tensor],
    groups: list[list[int]],
    compute: torch.device,
    window_bytes: int = 64 << 20,
) -> FeatureSource:
    """:class:`PerTapSource` for memory-mapped features, else :class:`StackedSource` (on the
    compute device when it is a GPU with room for the features, on the CPU otherwise)."""
    stacks = None
    if isinstance(features, SplitFeatures):
        if features.mapped:
            return PerTapSource(features.features, groups, compute, features.release, window_bytes)
        stacks = features.stacks
        features = features.features
    nbytes = sum(f.numel() * f.element_size() for f in features)
    storage = compute if compute.type == "cpu" or gpu_fits(nbytes, compute) else torch.device("cpu")
    if stacks is not None and len(stacks) == len(groups):
        return StackedSource(stacks, compute, storage)
    return StackedSource.from_features(features, groups, compute, storage)
