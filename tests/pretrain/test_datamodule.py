"""The pretraining data module: the backbone's normalisation and the repeated-augmentation order."""

from __future__ import annotations

import json

import pytest
import torch

from tunnellab.data.arrays import DatasetSplits, ImageArrays
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
