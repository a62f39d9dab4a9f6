"""Features of a split that do not fit the RAM budget: one memory-mapped fp16 ``.npy`` per tap.

Layout of an entry directory::

    manifest.json           {"version", "n", "dims", "dtype", "taps": [file names]}
    tap_000.npy ...         (N, D_t) float16, written row block by row block
    labels.npy  logits.npy  int64 (N,), float32 (N, K)

The extraction pass streams rows into the files with plain writes (the page cache holds them,
not the process). Reading maps every file; :meth:`MappedFeatures.release` tells the kernel the
process no longer needs the pages it touched, which keeps the resident set bounded while
training reads random minibatches.
"""

from __future__ import annotations

import json
import mmap
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from tunnellab.probe.features import SplitFeatures, stacked_buffers

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
_NP_DTYPE = np.dtype(np.float16)


def _tap_file(index: int) -> str:
    return f"tap_{index:03d}.npy"


def _write_npy_header(handle: BinaryIO, shape: tuple[int, ...], dtype: np.dtype) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(handle, header)


class MappedSink:
    """Streams each tap's fp16 rows into ``<directory>/tap_XXX.npy`` as they are extracted."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._handles: list[BinaryIO] = []
        self._dims: list[int] = []
        self._logits = np.empty((0, 0), dtype=np.float32)
        self._written = 0

    def open(self, n: int, dims: list[int], n_logits: int, device: torch.device) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._dims = list(dims)
        self._logits = np.empty((n, n_logits), dtype=np.float32)
        for index, dim in enumerate(dims):
            handle = open(self.directory / _tap_file(index), "wb")  # noqa: SIM115 (closed in finish)
            _write_npy_header(handle, (n, dim), _NP_DTYPE)
            self._handles.append(handle)

    def write(self, start: int, features: list[torch.Tensor], logits: torch.Tensor) -> None:
        if start != self._written:
            raise ValueError(f"rows must arrive in order: expected {self._written}, got {start}")
        for handle, feature in zip(self._handles, features, strict=True):
            feature.cpu().numpy().tofile(handle)
        stop = start + logits.shape[0]
        self._logits[start:stop] = logits.cpu().numpy()
        self._written = stop

    def finish(self, labels: torch.Tensor) -> MappedFeatures:
        for handle in self._handles:
            handle.close()
        self._handles.clear()
        if self._written != len(labels):
            raise ValueError(f"{self._written} rows written for {len(labels)} labels")
        np.save(self.directory / "labels.npy", labels.numpy().astype(np.int64))
        np.save(self.directory / "logits.npy", self._logits)
        manifest = {
            "version": FORMAT_VERSION,
            "n": len(labels),
            "dims": self._dims,
            "dtype": "float16",
            "taps": [_tap_file(i) for i in range(len(self._dims))],
        }
        (self.directory / MANIFEST).write_text(json.dumps(manifest, indent=1))
        return open_mapped(self.directory)


class MappedFeatures(SplitFeatures):
    """:class:`SplitFeatures` whose tap tensors are views of memory-mapped ``.npy`` files."""

    def __init__(
        self,
        features: list[torch.Tensor],
        labels: torch.Tensor,
        logits: torch.Tensor,
        maps: list[mmap.mmap],
        directory: Path,
    ) -> None:
        super().__init__(features=features, labels=labels, logits=logits)
        self.maps = maps
        self.directory = directory

    @property
    def mapped(self) -> bool:
        return True

    def release(self) -> None:
        """Drop the pages this process touched from its resident set (they stay in the page
        cache, so reading them again is cheap)."""
        advice = getattr(mmap, "MADV_DONTNEED", None)
        if advice is None:
            return
        for mapping in self.maps:
            mapping.madvise(advice)


def _npy_header(handle: BinaryIO, path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """Read a ``.npy`` header (the handle is left at the data); check it holds 2-D C float16."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
    else:
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(handle)
    if fortran or dtype != _NP_DTYPE or len(shape) != 2:
        raise ValueError(f"{path}: expected a C-ordered 2-D float16 array")
    return shape, dtype


def _map_npy(path: Path) -> tuple[torch.Tensor, mmap.mmap]:
    """A 2-D ``.npy`` file as a CPU tensor backed by a private (copy-on-write) mapping."""
    with open(path, "rb") as handle:
        shape, dtype = _npy_header(handle, path)
        offset = handle.tell()
        mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_COPY)
    count = int(np.prod(shape))
    array = np.frombuffer(mapping, dtype=dtype, count=count, offset=offset).reshape(shape)
    return torch.from_numpy(array), mapping


def _read_npy_into(path: Path, out: torch.Tensor) -> None:
    """Read a 2-D float16 ``.npy`` file straight into ``out`` (a contiguous CPU tensor)."""
    with open(path, "rb") as handle:
        shape, _ = _npy_header(handle, path)
        if tuple(out.shape) != tuple(shape):
            raise ValueError(f"{path}: shape {shape}, expected {tuple(out.shape)}")
        view = memoryview(out.numpy()).cast("B")
        if handle.readinto(view) != len(view):
            raise ValueError(f"{path}: file is shorter than its header says")


def read_manifest(directory: str | Path) -> dict:
    return json.loads((Path(directory) / MANIFEST).read_text())


def open_mapped(directory: str | Path) -> MappedFeatures:
    """Map a finished entry directory (see the module docstring)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    if manifest.get("version") != FORMAT_VERSION:
        raise ValueError(f"{directory}: unknown feature format {manifest.get('version')}")
    features, maps = [], []
    for name in manifest["taps"]:
        tensor, mapping = _map_npy(directory / name)
        features.append(tensor)
        maps.append(mapping)
    return MappedFeatures(
        features=features,
        labels=torch.from_numpy(np.load(directory / "labels.npy")),
        logits=torch.from_numpy(np.load(directory / "logits.npy")),
        maps=maps,
        directory=directory,
    )


def load_mapped_into_memory(directory: str | Path) -> SplitFeatures:
    """Read an entry directory fully into RAM, straight into width-group stacks."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    stacks, features = stacked_buffers(manifest["n"], manifest["dims"])
    for name, feature in zip(manifest["taps"], features, strict=True):
        _read_npy_into(directory / name, feature)
    return SplitFeatures(
        features=features,
        labels=torch.from_numpy(np.load(directory / "labels.npy")),
        logits=torch.from_numpy(np.load(directory / "logits.npy")),
        stacks=stacks,
    )
