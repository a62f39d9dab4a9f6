"""RandomCropDataset: one crop per image, drawn from (seed, epoch, image index) alone."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from tunnellab.data.crops import CropSpec, draw_seed, random_resized_crop
from tunnellab.data.cropstore import ArrayCropSource
from tunnellab.data.loading import RandomCropDataset


@dataclass
class Clock:
    seed: int = 3
    epoch: int = 0


def _source(n: int = 12) -> ArrayCropSource:
    images = np.random.default_rng(0).integers(0, 256, (n, 40, 40, 3), dtype=np.uint8)
    return ArrayCropSource(images, torch.arange(n) % 4)


def test_each_crop_is_the_images_own_draw():
    source, spec, clock = _source(), CropSpec(16), Clock(seed=3, epoch=2)
    images, labels = RandomCropDataset(source, spec, clock).__getitems__([5, 0, 7])
    assert images.shape == (3, 3, 16, 16) and images.dtype == torch.uint8
    assert labels.tolist() == [1, 0, 3]
    for row, i in enumerate([5, 0, 7]):
        generator = torch.Generator().manual_seed(draw_seed(3, 2, i))
        expected = random_resized_crop(source.images[i], (40, 40), spec, generator)
        assert np.array_equal(images[row].permute(1, 2, 0).numpy(), expected)


def test_crops_do_not_depend_on_the_batch_or_the_threads():
    source, spec, clock = _source(), CropSpec(16), Clock()
    alone = RandomCropDataset(source, spec, clock).__getitems__([4])[0][0]
    batch = RandomCropDataset(source, spec, clock, threads=3).__getitems__([9, 4, 1, 2, 6])[0]
    assert torch.equal(batch[1], alone)
    single = RandomCropDataset(source, spec, clock)[4]
    assert torch.equal(single[0], alone) and single[1] == 0


def test_a_new_epoch_draws_new_crops():
    source, spec, clock = _source(), CropSpec(16), Clock()
    dataset = RandomCropDataset(source, spec, clock)
    first = dataset.__getitems__(list(range(12)))[0]
    clock.epoch = 1
    second = dataset.__getitems__(list(range(12)))[0]
    assert not torch.equal(first, second)
    clock.epoch = 0
    assert torch.equal(dataset.__getitems__(list(range(12)))[0], first)
