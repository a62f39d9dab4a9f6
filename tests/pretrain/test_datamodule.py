"""ArraysDataModule: normalisation, the repeated-augmentation order, and augmented batches that
are per-image crops at r, replayed exactly on resume."""

from __future__ import annotations

import json

import pytest
import torch

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.lab.builders import build_lab_id
from tunnellab.data.transforms import normalize
from tunnellab.pretrain.datamodule import ArraysDataModule, EpochShuffleSampler
from tunnellab.pretrain.samplers import RepeatedAugSampler


def _splits(n: int = 40) -> DatasetSplits:
    images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8)
    arrays = ImageArrays(images, torch.arange(n) % 4, ["a", "b", "c", "d"])
    return DatasetSplits("toy", train=arrays, test=arrays, val=arrays)


def test_batches_are_standardised_with_the_configured_statistics():
    splits = _splits()
    data = ArraysDataModule(splits, batch_size=8, norm="cifar100")
    x, _ = data.on_after_batch_transfer((splits.train.images[:8], splits.train.labels[:8]), 0)
    torch.testing.assert_close(x, normalize(splits.train.images[:8], "cifar100"))
    assert isinstance(data.sampler, EpochShuffleSampler)


def test_repeated_augmentation_swaps_in_the_deit_sampler():
    data = ArraysDataModule(_splits(), batch_size=8, repeated_aug=3, seed=2)
    assert isinstance(data.sampler, RepeatedAugSampler) and data.sampler.repeats == 3
    order = [int(i) for batch in data.train_dataloader() for i in batch[1]]
    assert len(order) == 40  # fewer than 256 samples: one pass worth of entries


@pytest.mark.slow
def test_paper_vit_recipe_pretrains_with_its_global_batch_and_keys(compose, tmp_path):
    from tunnellab.pipeline import instantiate_dataset
    from tunnellab.pretrain.train import pretrain

    cfg = compose(
        "experiment=smoke", "model=vit_t", "model.width=0.0625", "optim=paper", "aug=rrc_flip",
        "optim.epochs=1", "optim.batch_size=16", "data.norm=cifar10", "threads=1",
    )  # fmt: skip
    assert (cfg.optim.repeated_aug, cfg.optim.decay) == (3, "timm")
    outcome = pretrain(cfg, tmp_path, instantiate_dataset(cfg.data), loggers=[])
    info = json.loads((tmp_path / "checkpoints" / "pretrain.json").read_text())
    assert outcome.epochs_run == 1 and info["batch_size_per_device"] == 16


def _lab_splits() -> DatasetSplits:
    return build_lab_id(32, 3, 20, 4, 4, augmentation="rrc_flip", source_side="2r")


def _epoch(dm: ArraysDataModule, epoch: int) -> list[torch.Tensor]:
    dm.sampler.set_epoch(epoch)
    return [images for images, _ in dm.train_dataloader()]


def test_augmented_batches_are_crops_at_the_resolution_from_the_source():
    splits = _lab_splits()
    assert splits.train_aug.images.shape == (60, 64, 64, 3)
    dm = ArraysDataModule(splits, batch_size=16, augmentation="rrc_flip", seed=1)
    batches = _epoch(dm, 0)
    assert [b.shape for b in batches] == [(16, 3, 32, 32)] * 3  # drop_last
    assert all(b.dtype == torch.uint8 for b in batches)
    plain = ArraysDataModule(splits, batch_size=16, seed=1)
    assert not torch.equal(batches[0], _epoch(plain, 0)[0])  # same order, cropped images


def test_a_resumed_module_replays_the_same_epoch():
    first = ArraysDataModule(_lab_splits(), batch_size=16, augmentation="rrc_flip", seed=1)
    epochs = [_epoch(first, e) for e in range(3)]
    resumed = ArraysDataModule(_lab_splits(), batch_size=16, augmentation="rrc_flip", seed=1)
    for got, expected in zip(_epoch(resumed, 2), epochs[2], strict=True):
        assert torch.equal(got, expected)
    assert not torch.equal(epochs[1][0], epochs[2][0])


def test_batches_are_only_normalised_after_transfer():
    dm = ArraysDataModule(_lab_splits(), batch_size=16, augmentation="rrc_flip")
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    x, labels = dm.on_after_batch_transfer((images, torch.arange(4)), 0)
    assert torch.equal(x, normalize(images)) and labels.tolist() == [0, 1, 2, 3]


def test_repeated_copies_of_an_image_get_their_own_crops():
    """With repeated augmentation the copies of an image stand together, each with its own crop."""
    splits = _lab_splits()
    dm = ArraysDataModule(splits, batch_size=6, augmentation="rrc_flip", repeated_aug=3, seed=1)
    keys = dm.sampler.epoch_order().tolist()
    n = len(splits.train)
    assert [k % n for k in keys[:3]] == [keys[0] % n] * 3  # one image, three copies
    assert len(set(keys[:3])) == 3
    images, labels = next(iter(dm.train_dataloader()))
    assert labels[:3].tolist() == [int(splits.train.labels[keys[0] % n])] * 3
    assert not torch.equal(images[0], images[1]) and not torch.equal(images[1], images[2])
