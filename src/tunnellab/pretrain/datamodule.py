"""LightningDataModule over in-memory uint8 splits; normalisation and augmentation on the batch."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.loading import BatchedTensorDataset, keep_batch
from tunnellab.data.transforms import normalize, random_resized_crop_flip
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

    ``augmentation`` is ``"none"`` or ``"rrc_flip"`` (train batches only). Shuffling and
    augmentation draws depend only on ``(seed, epoch, step)``: resuming from a checkpoint replays
    exactly the batches an uninterrupted run would have seen. ``batch_size`` is this process's
    share of the global batch; ``norm`` names the mean/std (``NORM_STATS``); ``repeated_aug``
    > 0 reads DeiT's repeated-augmentation order (:class:`RepeatedAugSampler`) instead of one
    shuffled pass.
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
        self.norm = norm
        self.sampler: EpochShuffleSampler | RepeatedAugSampler = (
            RepeatedAugSampler(len(splits.train), repeated_aug, seed)
            if repeated_aug
            else EpochShuffleSampler(len(splits.train), seed)
        )
        self._aug_generator = torch.Generator()
        self._aug_step = (-1, 0)  # (epoch, step within epoch)

    def _loader(self, arrays: ImageArrays, train: bool) -> DataLoader:
        return DataLoader(
            BatchedTensorDataset(arrays.images, arrays.labels),  # one gather per batch
            collate_fn=keep_batch,
            batch_size=self.batch_size,
            sampler=self.sampler if train else None,
            num_workers=self.num_workers,
            drop_last=train and len(arrays) > self.batch_size,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self._train_arrays(), train=True)

    def _train_arrays(self) -> ImageArrays:
        """With augmentation, the larger stored view (``train_aug``) when the dataset has one."""
        if self.augmentation == "rrc_flip" and self.splits.train_aug is not None:
            return self.splits.train_aug
        return self.splits.train

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.splits.val, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.splits.test, train=False)

    def on_after_batch_transfer(
        self, batch: tuple[torch.Tensor, torch.Tensor], dataloader_idx: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = batch
        x = normalize(images, self.norm)
        if self.augmentation == "rrc_flip" and self.trainer is not None and self.trainer.training:
            x = random_resized_crop_flip(
                x,
                scale=(self.scale_min, 1.0),
                flip_p=self.flip_p,
                generator=self._next_generator(),
                size=self.splits.val.resolution,  # crops of a larger train_aug come out at r
            )
        return x, labels

    def _next_generator(self) -> torch.Generator:
        """The augmentation stream of the current training step."""
        epoch, step = self._aug_step
        step = step + 1 if epoch == self.sampler.epoch else 0
        self._aug_step = (self.sampler.epoch, step)
        rank, _ = process_group()  # each DDP rank draws its own crops; rank 0 = one process
        return self._aug_generator.manual_seed(
            (self.sampler.seed * 1_000_003 + self.sampler.epoch) * 100_003 + step + (rank << 48)
        )
