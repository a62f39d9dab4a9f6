"""LightningDataModule over uint8 splits: augmentation per image, normalisation per batch."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.crops import CropSpec
from tunnellab.data.cropstore import ArrayCropSource, CropSource
from tunnellab.data.loading import BatchedTensorDataset, RandomCropDataset, keep_batch
from tunnellab.data.transforms import normalize
from tunnellab.pretrain.samplers import RepeatedAugSampler, process_group, seeded_permutation


class EpochShuffleSampler(Sampler[int]):
    """A random order that depends only on ``(seed, epoch)``, so a resumed run sees the same data.

    Lightning calls :meth:`set_epoch` at the start of every training epoch. Under DDP each of the
    ``world`` processes takes every ``world``-th index of the same order (the tail that does not
    split evenly is dropped), so the ranks see disjoint shards that change every epoch.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = n
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.n // process_group()[1]

    def __iter__(self):
        rank, world = process_group()
        order = seeded_permutation(self.n, self.seed, self.epoch)
        return iter(order[: len(self) * world][rank::world].tolist())


class ArraysDataModule(pl.LightningDataModule):
    """Serves ``train``/``val``/``test`` of a :class:`DatasetSplits` as normalised float batches.

    ``augmentation`` is ``"none"`` or ``"rrc_flip"``: RandomResizedCrop(r) + horizontal flip of
    every training image, cut in the loader from the dataset's crop source (``train_aug``, else
    ``train`` itself) on ``crop_threads`` threads (0: as many as PyTorch uses). Shuffling
    depends only on ``(seed, epoch)`` and an image's crop only on ``(seed, epoch, draw key)``:
    resuming from a checkpoint replays exactly the batches an uninterrupted run would have seen.
    ``batch_size`` is this process's share of the global batch; ``norm`` names the mean/std
    (``NORM_STATS``); ``repeated_aug`` > 0 reads DeiT's repeated-augmentation order
    (:class:`RepeatedAugSampler`), each copy of an image with its own crop.
    """

    def __init__(
        self,
        splits: DatasetSplits,
        batch_size: int,
        augmentation: str = "none",
        scale_min: float = 0.08,
        flip_p: float = 0.5,
        num_workers: int = 0,
        seed: int = 0,
        norm: str = "imagenet",
        repeated_aug: int = 0,
        crop_threads: int = 0,
    ) -> None:
        super().__init__()
        if splits.val is None:
            raise ValueError(f"dataset '{splits.name}' has no validation split to select on")
        self.splits = splits
        self.batch_size = batch_size
        self.augmentation = augmentation
        self.crop = CropSpec(splits.train.resolution, scale=(scale_min, 1.0), flip_p=flip_p)
        self.num_workers = num_workers
        self.norm = norm
        self.crop_threads = crop_threads
        n = len(splits.train)
        self.sampler: EpochShuffleSampler | RepeatedAugSampler = (
            # with crops, copy k of image i is drawn as key i + k·n: its own crop
            RepeatedAugSampler(n, repeated_aug, seed, copy_keys=augmentation == "rrc_flip")
            if repeated_aug
            else EpochShuffleSampler(n, seed)
        )

    def _loader(self, dataset: Dataset, train: bool) -> DataLoader:
        return DataLoader(
            dataset,  # __getitems__: one fetch per batch
            collate_fn=keep_batch,
            batch_size=self.batch_size,
            sampler=self.sampler if train else None,
            num_workers=self.num_workers,
            drop_last=train and len(dataset) > self.batch_size,
        )

    def _arrays(self, arrays: ImageArrays) -> Dataset:
        return BatchedTensorDataset(arrays.images, arrays.labels)

    def train_dataloader(self) -> DataLoader:
        if self.augmentation != "rrc_flip":
            return self._loader(self._arrays(self.splits.train), train=True)
        threads = self.crop_threads or torch.get_num_threads()
        crops = RandomCropDataset(self.crop_source(), self.crop, self.sampler, threads)
        return self._loader(crops, train=True)

    def crop_source(self) -> CropSource:
        """What augmented crops are cut from: ``train_aug`` when the dataset has one."""
        if self.splits.train_aug is not None:
            return self.splits.train_aug
        return ArrayCropSource.from_arrays(self.splits.train)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._arrays(self.splits.val), train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._arrays(self.splits.test), train=False)

    def on_after_batch_transfer(
        self, batch: tuple[torch.Tensor, torch.Tensor], dataloader_idx: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        return normalize(images, self.norm), labels
