"""ArraysDataModule: augmented batches are per-image crops at r, replayed exactly on resume."""

from __future__ import annotations

import torch

from tunnellab.data.arrays import DatasetSplits
from tunnellab.data.lab_suite import build_lab_id
from tunnellab.data.transforms import normalize
from tunnellab.pretrain.datamodule import ArraysDataModule


def _splits() -> DatasetSplits:
    return build_lab_id(32, 3, 20, 4, 4, augmentation="rrc_flip", source_side="2r")


def _epoch(dm: ArraysDataModule, epoch: int) -> list[torch.Tensor]:
    dm.sampler.set_epoch(epoch)
    return [images for images, _ in dm.train_dataloader()]


def test_augmented_batches_are_crops_at_the_resolution_from_the_source():
    splits = _splits()
    assert splits.train_aug.images.shape == (60, 64, 64, 3)
    dm = ArraysDataModule(splits, batch_size=16, augmentation="rrc_flip", seed=1)
    batches = _epoch(dm, 0)
    assert [b.shape for b in batches] == [(16, 3, 32, 32)] * 3  # drop_last
    assert all(b.dtype == torch.uint8 for b in batches)
    plain = ArraysDataModule(splits, batch_size=16, seed=1)
    assert not torch.equal(batches[0], _epoch(plain, 0)[0])  # same order, cropped images


def test_a_resumed_module_replays_the_same_epoch():
    first = ArraysDataModule(_splits(), batch_size=16, augmentation="rrc_flip", seed=1)
    epochs = [_epoch(first, e) for e in range(3)]
    resumed = ArraysDataModule(_splits(), batch_size=16, augmentation="rrc_flip", seed=1)
    for got, expected in zip(_epoch(resumed, 2), epochs[2], strict=True):
        assert torch.equal(got, expected)
    assert not torch.equal(epochs[1][0], epochs[2][0])


def test_batches_are_only_normalised_after_transfer():
    dm = ArraysDataModule(_splits(), batch_size=16, augmentation="rrc_flip")
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    x, labels = dm.on_after_batch_transfer((images, torch.arange(4)), 0)
    assert torch.equal(x, normalize(images)) and labels.tolist() == [0, 1, 2, 3]
