"""Image sources: one split of a dataset *before* decoding (what to read, labels, class names).

Every real dataset is first indexed into sources (cheap: file lists, label files, or arrays a
torchvision class already loaded); :mod:`tunnellab.data.imagecache` then decodes each source once
into a uint8 array. A source's :meth:`~ImageSource.fingerprint` identifies its exact content, so
the cache is rebuilt when the files change.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tunnellab.data.imagefiles import open_image, to_rgb


def digest(*parts: bytes | str) -> str:
    """A short hex digest of strings and bytes (what cache keys are made of)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()


class ImageSource(ABC):
    """``len(self)`` images with integer ``labels`` in ``[0, len(classes))``."""

    labels: np.ndarray
    classes: list[str]
    #: side of every image when they all share one square size (then the view may keep them)
    native_size: int | None = None

    def __len__(self) -> int:
        return len(self.labels)

    @abstractmethod
    def image(self, i: int) -> Image.Image:
        """The ``i``-th image, decoded."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A digest of the content: changes when any image (or the selection) changes."""

    @abstractmethod
    def select(self, index: np.ndarray, classes: list[str] | None = None) -> ImageSource:
        """The images at ``index`` (labels kept; ``classes`` replaces the class list)."""

    def item_name(self, i: int) -> str:
        """What a message calls the ``i``-th image (its file, where it has one)."""
        return f"image {i}"

    def native_batch(self, index: np.ndarray) -> np.ndarray:
        """uint8 ``(B, 3, H, W)`` of images stored at :attr:`native_size` (no decode, no resize)."""
        return np.stack([np.asarray(to_rgb(self.image(int(i)))) for i in index]).transpose(
            0, 3, 1, 2
        )


class FileSource(ImageSource):
    """Image files on disk (JPEG, PNG, ...), decoded with PIL."""

    def __init__(self, paths: Sequence[str | Path], labels: Sequence[int], classes: list[str]):
        self.paths = [Path(p) for p in paths]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        self.skipped: dict[Path, str] = {}  # files left out when scanned → why
        if len(self.paths) != len(self.labels):
            raise ValueError(f"{len(self.paths)} files but {len(self.labels)} labels")

    def image(self, i: int) -> Image.Image:
        return open_image(self.paths[i])

    def item_name(self, i: int) -> str:
        return str(self.paths[i])

    def fingerprint(self) -> str:
        """Every file's path, size and modification time (no file is read)."""
        lines = []
        for path in self.paths:
            st = os.stat(path)
            lines.append(f"{path}\t{st.st_size}\t{st.st_mtime_ns}")
        return digest("files", "\n".join(lines), self.labels.tobytes())

    def select(self, index: np.ndarray, classes: list[str] | None = None) -> FileSource:
        index = np.asarray(index, dtype=np.int64)
        return FileSource(
            [self.paths[i] for i in index], self.labels[index], classes or self.classes
        )

    def missing_files(self) -> list[Path]:
        return [p for p in self.paths if not p.is_file()]


class _ArrayStore:
    """A whole image array in one of the layouts datasets use, with its content digest."""

    def __init__(self, array: np.ndarray | torch.Tensor) -> None:
        array = array.numpy() if isinstance(array, torch.Tensor) else np.asarray(array)
        if array.dtype != np.uint8:
            raise ValueError(f"image arrays must be uint8; got {array.dtype}")
        if array.ndim == 3:  # (N, H, W) greyscale
            self.layout = "NHW"
        elif array.ndim == 4 and array.shape[1] in (1, 3) and array.shape[3] not in (1, 3):
            self.layout = "NCHW"
        elif array.ndim == 4:
            self.layout = "NHWC"
        else:
            raise ValueError(f"unsupported image array shape {array.shape}")
        self.array = array
        self._content_digest: str | None = None

    @property
    def height_width(self) -> tuple[int, int]:
        if self.layout == "NCHW":
            return self.array.shape[2], self.array.shape[3]
        return self.array.shape[1], self.array.shape[2]

    def nchw_rgb(self, index: np.ndarray) -> np.ndarray:
        batch = self.array[index]
        if self.layout == "NHW":
            batch = batch[:, None]
        elif self.layout == "NHWC":
            batch = batch.transpose(0, 3, 1, 2)
        if batch.shape[1] == 1:
            batch = np.repeat(batch, 3, axis=1)
        return np.ascontiguousarray(batch)

    def hwc(self, i: int) -> np.ndarray:
        item = self.array[i]
        if self.layout == "NCHW":
            item = item.transpose(1, 2, 0)
        if item.ndim == 3 and item.shape[2] == 1:
            item = item[..., 0]
        return item

    def content_digest(self) -> str:
        if self._content_digest is None:
            shape = str(self.array.shape)
            self._content_digest = digest("array", shape, np.ascontiguousarray(self.array).data)
        return self._content_digest


class ArraySource(ImageSource):
    """Images held in one uint8 array (CIFAR, STL-10, MNIST, SVHN ...), any common layout."""

    def __init__(
        self,
        array: np.ndarray | torch.Tensor | _ArrayStore,
        labels: Sequence[int] | np.ndarray,
        classes: list[str],
        index: np.ndarray | None = None,
    ) -> None:
        self.store = array if isinstance(array, _ArrayStore) else _ArrayStore(array)
        n = len(self.store.array)
        self.index = np.arange(n) if index is None else np.asarray(index, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.classes = list(classes)
        if len(self.labels) != len(self.index):
            raise ValueError(f"{len(self.index)} images but {len(self.labels)} labels")
        h, w = self.store.height_width
        self.native_size = h if h == w else None

    def image(self, i: int) -> Image.Image:
        return Image.fromarray(self.store.hwc(int(self.index[i])))

    def native_batch(self, index: np.ndarray) -> np.ndarray:
        return self.store.nchw_rgb(self.index[np.asarray(index)])

    def fingerprint(self) -> str:
        return digest(self.store.content_digest(), self.index.tobytes(), self.labels.tobytes())

    def select(self, index: np.ndarray, classes: list[str] | None = None) -> ArraySource:
        index = np.asarray(index, dtype=np.int64)
        return ArraySource(
            self.store, self.labels[index], classes or self.classes, self.index[index]
        )


class ItemSource(ImageSource):
    """Any indexable dataset returning ``(image, label)``; the fallback for unknown classes.

    Its fingerprint is its ``description`` plus length and labels: the images themselves are not
    hashed, so change ``description`` (or clear the cache) when the data changes in place.
    """

    def __init__(
        self,
        load: Callable[[int], Any],
        labels: Sequence[int] | np.ndarray,
        classes: list[str],
        description: str,
        index: np.ndarray | None = None,
    ) -> None:
        self.load = load
        self.labels = np.asarray(labels, dtype=np.int64)
        self.index = np.arange(len(self.labels)) if index is None else np.asarray(index)
        self.classes = list(classes)
        self.description = description

    def image(self, i: int) -> Image.Image:
        item = self.load(int(self.index[i]))
        if isinstance(item, torch.Tensor):  # a CHW tensor
            item = Image.fromarray(item.permute(1, 2, 0).squeeze(-1).numpy())
        return item

    def fingerprint(self) -> str:
        return digest("items", self.description, self.index.tobytes(), self.labels.tobytes())

    def select(self, index: np.ndarray, classes: list[str] | None = None) -> ItemSource:
        index = np.asarray(index, dtype=np.int64)
        return ItemSource(
            self.load,
            self.labels[index],
            classes or self.classes,
            self.description,
            self.index[index],
        )


@dataclass
class SplitSources:
    """A dataset's splits as sources: ``train`` and ``test``; ``val`` for ID datasets.

    ``val`` may be the very ``test`` object (the paper selects checkpoints on the test split).
    """

    name: str
    train: ImageSource
    test: ImageSource
    val: ImageSource | None = None

    def sizes(self) -> dict[str, int]:
        splits = {"train": self.train, "val": self.val, "test": self.test}
        return {k: len(v) for k, v in splits.items() if v is not None}

    @property
    def classes(self) -> list[str]:
        return self.train.classes
