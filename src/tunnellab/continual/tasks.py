"""Class-incremental task splits: which ID classes make up each task, as data."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.cropstore import CropSource
from tunnellab.errors import ConfigError


def parse_classes(spec: object, n_classes: int, key: str) -> list[int]:
    """0-based class indices of one task from ``spec``: 1-based numbers as a list (``[1, 2, 7]``)
    or a string of ranges (``"1-50"``, ``"1-3,7"``). Order is kept; repeats are an error."""
    numbers: list[int] = []
    try:
        if isinstance(spec, str):
            for part in spec.split(","):
                lo, _, hi = part.strip().partition("-")
                numbers += list(range(int(lo), int(hi or lo) + 1))
        elif isinstance(spec, Sequence):
            numbers = [int(v) for v in spec]
        else:
            raise ValueError
    except (TypeError, ValueError):
        numbers = []
    bad = [n for n in numbers if not 1 <= n <= n_classes]
    if not numbers or bad or len(set(numbers)) != len(numbers):
        raise ConfigError(
            f"'{key}={spec}' is not a task: give the 1-based ID classes it holds, as a list "
            f"([1, 2, 3]) or ranges ('1-50' or '1-3,7'), each in 1..{n_classes} (the ID "
            "dataset's classes) and none twice."
        )
    return [n - 1 for n in numbers]


def task_classes(specs: Sequence[object], n_classes: int) -> list[list[int]]:
    """The classes of every task; tasks must not share a class (class-incremental)."""
    if len(specs) < 2:
        raise ConfigError(
            f"'continual.tasks' holds {len(specs)} task(s); the swap study needs two "
            "(e.g. ['1-50', '51-100'])."
        )
    tasks = [parse_classes(s, n_classes, f"continual.tasks[{i}]") for i, s in enumerate(specs)]
    seen: set[int] = set()
    for i, classes in enumerate(tasks):
        shared = seen & set(classes)
        if shared:
            raise ConfigError(
                f"'continual.tasks[{i}]' shares classes {sorted(c + 1 for c in shared)[:8]} with "
                "an earlier task; the tasks of a class-incremental split must be disjoint."
            )
        seen |= set(classes)
    return tasks


def _select(arrays: ImageArrays, classes: list[int]) -> tuple[ImageArrays, np.ndarray]:
    """The samples of ``classes``, relabelled 0..k-1 in the order of ``classes``."""
    labels = arrays.labels.numpy()
    index = np.flatnonzero(np.isin(labels, classes))
    remap = np.full(max(arrays.n_classes, int(labels.max(initial=0)) + 1), -1, dtype=np.int64)
    remap[classes] = np.arange(len(classes))
    sub = arrays.subset(index)
    names = [arrays.classes[c] for c in classes] if arrays.classes else [str(c) for c in classes]
    return ImageArrays(sub.images, torch.from_numpy(remap[labels[index]]), names), index


class SubsetCropSource(CropSource):
    """The images of ``source`` at ``index`` (a task's share of the augmented crop source)."""

    def __init__(self, source: CropSource, index: np.ndarray, labels: torch.Tensor) -> None:
        self.source = source
        self.index = index
        self.labels = labels

    def image(self, i: int) -> tuple[np.ndarray, tuple[int, int]]:
        return self.source.image(int(self.index[i]))


def task_splits(data: DatasetSplits, classes: list[int], name: str) -> DatasetSplits:
    """``data`` restricted to ``classes`` (every split, the crop source too), relabelled."""
    train, index = _select(data.train, classes)
    val = _select(data.val, classes)[0] if data.val is not None else None
    aug = SubsetCropSource(data.train_aug, index, train.labels) if data.train_aug else None
    return DatasetSplits(name, train, _select(data.test, classes)[0], val, aug)
