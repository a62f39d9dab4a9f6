"""Crop sources: the ragged source store, the decoding source, and what materialize_splits picks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tunnellab.data.builders import Materialize, materialize_splits
from tunnellab.data.cropstore import (
    INDEX,
    ArrayCropSource,
    DecodingCropSource,
    RaggedCropSource,
    cached_store,
    decode_store,
    shrink_to,
    source_pixels,
)
from tunnellab.data.folders import scan_class_folders
from tunnellab.data.image_sources import ArraySource, SplitSources
from tunnellab.tools.fakes import write_image_folder


@pytest.fixture
def folder(tmp_path):
    write_image_folder(tmp_path / "img", ["a", "b"], 3, size=(50, 37), jitter=6)
    return scan_class_folders(tmp_path / "img")


def test_store_keeps_aspect_and_original_size(folder, tmp_path):
    store = cached_store(folder, 24, "t", tmp_path / "cache", workers=2)
    for i, path in enumerate(folder.paths):
        with Image.open(path) as image:
            image.load()
            pixels, original_hw = store.image(i)
            assert original_hw == (image.height, image.width)
            assert min(pixels.shape[:2]) == 24
            short, long = sorted(image.size)
            assert max(pixels.shape[:2]) == int(24 * long / short)  # torchvision's Resize rule
            assert np.array_equal(pixels, shrink_to(image, 24))
    assert torch.equal(store.labels, torch.as_tensor(folder.labels))


def test_store_is_built_once_atomically_and_equals_the_in_memory_one(folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = cached_store(folder, 24, "t", cache)
    entries = list(cache.iterdir())
    assert len(entries) == 1 and (entries[0] / INDEX).is_file()
    assert not list(cache.glob(".*"))  # no temporary dir left behind
    in_memory = decode_store(folder, 24)
    monkeypatch.setattr(type(folder), "image", lambda *a: pytest.fail("decoded again"))
    again = cached_store(folder, 24, "t", cache)
    for i in range(len(folder)):
        assert np.array_equal(again.image(i)[0], first.image(i)[0])
        assert np.array_equal(in_memory.image(i)[0], first.image(i)[0])
        assert in_memory.image(i)[1] == first.image(i)[1]


def test_small_images_are_stored_as_they_are(folder):
    store = decode_store(folder, 512)
    for i in range(len(folder)):
        pixels, original_hw = store.image(i)
        assert pixels.shape[:2] == original_hw
        assert np.array_equal(pixels, np.asarray(folder.image(i).convert("RGB")))


def test_original_decodes_every_time(folder):
    source = DecodingCropSource(folder)
    pixels, original_hw = source.image(1)
    assert np.array_equal(pixels, np.asarray(folder.image(1).convert("RGB")))
    assert original_hw == pixels.shape[:2]


def test_source_side_in_pixels():
    assert source_pixels("4r", 32) == 128 and source_pixels("1r", 224) == 224
    assert source_pixels(300, 32) == 300 and source_pixels("original", 32) == "original"


@pytest.mark.parametrize(
    ("side", "kind", "pixels"),
    [
        (20, RaggedCropSource, 20),
        ("1r", RaggedCropSource, 16),
        ("original", DecodingCropSource, 99),
    ],
)
def test_augmented_splits_crop_from_the_configured_source(folder, tmp_path, side, kind, pixels):
    sources = SplitSources("f", train=folder, test=folder, val=folder)
    how = Materialize(16, cache_dir=tmp_path / "c", augmentation="rrc_flip", source_side=side)
    splits = materialize_splits(sources, how)
    assert splits.train.resolution == 16
    assert isinstance(splits.train_aug, kind) and len(splits.train_aug) == len(folder)
    for i in range(len(folder)):
        stored, original_hw = splits.train_aug.image(i)
        assert min(stored.shape[:2]) == min(pixels, *original_hw)  # the fakes are ~37 x 50
    assert materialize_splits(sources, Materialize(16, cache_dir=tmp_path / "c")).train_aug is None


def test_images_already_at_the_resolution_crop_from_the_training_split():
    nhwc = np.random.default_rng(0).integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    array = ArraySource(nhwc, np.arange(6) % 2, ["x", "y"])
    sources = SplitSources("n", train=array, test=array, val=array)
    splits = materialize_splits(sources, Materialize(32, cache=False, augmentation="rrc_flip"))
    assert isinstance(splits.train_aug, ArrayCropSource)
    assert np.shares_memory(splits.train_aug.images, splits.train.images.numpy())
    assert np.array_equal(splits.train_aug.image(4)[0], nhwc[4])


def test_array_source_wants_channels_last_uint8():
    with pytest.raises(ValueError, match=r"uint8 \(N, H, W, 3\)"):
        ArrayCropSource(np.zeros((2, 3, 8, 8), dtype=np.uint8), torch.zeros(2))
