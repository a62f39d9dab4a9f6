"""In-memory image splits: the common currency between every dataset and every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch


@dataclass
class ImageArrays:
    """One split of an image-classification dataset held as tensors.

    ``images`` is uint8 ``(N, 3, H, W)`` (RGB, channels first); ``labels`` is int64 ``(N,)``
    with values in ``[0, len(classes))``.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str] = field(default_factory=list)
    #: images of the source left out because they did not decode (name → reason)
    skipped: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            shape = tuple(self.images.shape)
            raise ValueError(f"images must be uint8 (N, 3, H, W); got {self.images.dtype} {shape}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError(
                f"labels must have shape ({self.images.shape[0]},); got {tuple(self.labels.shape)}"
            )
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[-1])

    @classmethod
    def from_numpy(
        cls, images_nhwc: np.ndarray, labels: np.ndarray, classes: list[str]
    ) -> ImageArrays:
        """Build from a uint8 ``(N, H, W, 3)`` array, the layout image libraries produce."""
        images = torch.from_numpy(np.ascontiguousarray(images_nhwc.transpose(0, 3, 1, 2)))
        return cls(images, torch.from_numpy(np.asarray(labels, dtype=np.int64)), list(classes))

    def subset(self, index: np.ndarray | torch.Tensor) -> ImageArrays:
        """The samples at ``index`` (same class list)."""
        index = torch.as_tensor(index, dtype=torch.long)
        return ImageArrays(self.images[index], self.labels[index], self.classes)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels.numpy(), minlength=self.n_classes)


def stratified_split(
    labels: np.ndarray | torch.Tensor, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded split of sample indices into (kept, held_out), ``fraction`` of each class held out.

    Every class keeps at least one sample on the kept side; classes with one sample hold none out.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        n_held = min(len(idx) - 1, round(fraction * len(idx)))
        held.append(idx[:n_held])
        kept.append(idx[n_held:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


@dataclass
class DatasetSplits:
    """A dataset's splits: ``train`` and ``test`` always, ``val`` for ID (pretraining) datasets.

    ``train_aug``, when set, is what augmented pretraining cuts its crops from: the training
    images (same order) at their source size (``data.source_side``); probes always read ``train``.
    """

    name: str
    train: ImageArrays
    test: ImageArrays
    val: ImageArrays | None = None
    # what augmented crops are cut from: a data.cropstore.CropSource (which imports this module)
    train_aug: Any = None

    @property
    def n_classes(self) -> int:
        return self.train.n_classes

    def sizes(self) -> dict[str, int]:
        """Number of images per split that is present."""
        splits = {"train": self.train, "val": self.val, "test": self.test}
        return {k: len(v) for k, v in splits.items() if v is not None}
