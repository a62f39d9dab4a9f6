"""LightningDataModule over in-memory uint8 splits; normalisation and augmentation on the batch."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.transforms import normalize, random_resized_crop_flip


class ArraysDataModule(pl.LightningDataModule):
    """Serves ``train``/``val``/``test`` of a :class:`DatasetSplits` as normalised float batches.

    ``augmentation`` is ``"none"`` or ``"rrc_flip"`` (train batches only).
    """

    def __init__(
        self,
        splits: DatasetSplits,
        batch_size: int,
        augmentation: str = "none",
        scale_min: float = 0.08,
        flip_p: float = 0.5,
        num_workers: int = 0,
    ) -> None:
        super().__init__()
        if splits.val is None:
            raise ValueError(f"dataset '{splits.name}' has no validation split to select on")
        self.splits = splits
        self.batch_size = batch_size
        self.augmentation = augmentation
        self.scale_min = scale_min
        self.flip_p = flip_p
        self.num_workers = num_workers

    def _loader(self, arrays: ImageArrays, shuffle: bool) -> DataLoader:
        return DataLoader(
            TensorDataset(arrays.images, arrays.labels),
            batch_size=self.batch_size,
            shuffle=shuffle,
            num_workers=self.num_workers,
            drop_last=shuffle and len(arrays) > self.batch_size,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.splits.train, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, shuffle=False)

    def on_after_batch_transfer(
        self, batch: tuple[torch.Tensor, torch.Tensor], dataloader_idx: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        x = normalize(images)
        if self.augmentation == "rrc_flip" and self.trainer is not None and self.trainer.training:
            x = random_resized_crop_flip(x, scale=(self.scale_min, 1.0), flip_p=self.flip_p)
        return x, labels
