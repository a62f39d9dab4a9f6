"""The decode-once cache: equal to the on-the-fly transform, keyed by content, atomic, mapped."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset
from torchvision import transforms as T

from tunnellab.data.arrays import DatasetSplits
from tunnellab.data.folders import scan_class_folders
from tunnellab.data.image_sources import ArraySource
from tunnellab.data.imagecache import IMAGES, cached, decode
from tunnellab.data.loading import BatchedTensorDataset, keep_batch
from tunnellab.data.views import eval_view
from tunnellab.pretrain.datamodule import ArraysDataModule
from tunnellab.tools.fakes import write_image_folder


@pytest.fixture
def folder(tmp_path):
    write_image_folder(tmp_path / "img", ["a", "b"], 5, size=(50, 37), jitter=6)
    return scan_class_folders(tmp_path / "img")


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


def paper_transform(resolution: int) -> T.Compose:
    """The paper's deterministic transform, written as torchvision pipelines write it."""
    return T.Compose(
        [
            T.Resize(int(256 / 224 * resolution), interpolation=T.InterpolationMode.BICUBIC),
            T.CenterCrop(resolution),
            T.PILToTensor(),
        ]
    )


@pytest.mark.parametrize("resolution", [32, 24])
def test_cache_equals_the_paper_transform_on_the_fly(folder, cache, resolution):
    arrays = cached(folder, eval_view(resolution), "t", cache, workers=2)
    transform = paper_transform(resolution)
    expected = torch.stack([transform(Image.open(p).convert("RGB")) for p in folder.paths])
    assert torch.equal(arrays.images, expected)
    assert torch.equal(arrays.labels, torch.as_tensor(folder.labels))
    assert torch.equal(decode(folder, eval_view(resolution)).images, expected)  # cache=false


def test_second_use_maps_the_same_entry_without_decoding(folder, cache, monkeypatch):
    view = eval_view(32)
    first = cached(folder, view, "t", cache)
    entries = sorted(cache.iterdir())
    assert len(entries) == 1 and not list(cache.glob(".*"))  # no temporary dir left behind
    monkeypatch.setattr(type(folder), "image", lambda *a: pytest.fail("decoded again"))
    again = cached(folder, view, "t", cache)
    assert torch.equal(first.images, again.images)
    mapped = np.load(entries[0] / IMAGES, mmap_mode="r")
    assert mapped.shape == (10, 3, 32, 32) and mapped.dtype == np.uint8


def test_key_changes_with_the_files_and_with_the_transform(folder, cache):
    cached(folder, eval_view(32), "t", cache)
    cached(folder, eval_view(32), "t", cache)
    assert len(list(cache.iterdir())) == 1
    cached(folder, eval_view(48), "t", cache)
    cached(folder, eval_view(24), "t", cache)
    assert len(list(cache.iterdir())) == 3
    path = folder.paths[0]
    Image.new("RGB", (40, 40), (255, 0, 0)).save(path, format="JPEG")
    os.utime(path, ns=(1, 1))
    changed = cached(folder, eval_view(32), "t", cache)
    assert len(list(cache.iterdir())) == 4
    assert changed.images[0].float().mean(dim=(1, 2))[0] > 200  # the new red picture


def test_a_failed_build_leaves_nothing(folder, cache, monkeypatch):
    def broken(self, i):  # not a bad image (those are skipped): a failure of the build itself
        raise RuntimeError("decoder crashed")

    monkeypatch.setattr(type(folder), "image", broken)
    with pytest.raises(RuntimeError, match="decoder crashed"):
        cached(folder, eval_view(32), "t", cache)
    assert list(cache.iterdir()) == []  # neither an entry nor its temporary dir


def test_native_arrays_pass_through_and_others_are_resized():
    rng = np.random.default_rng(0)
    nhwc = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    source = ArraySource(nhwc, np.arange(6) % 2, ["x", "y"])
    assert source.native_size == 32 and eval_view(32, 32).is_identity
    native = decode(source, eval_view(32, source.native_size)).images
    assert torch.equal(native, torch.from_numpy(nhwc).permute(0, 3, 1, 2))
    assert decode(source, eval_view(64, source.native_size)).resolution == 64
    grey = ArraySource(nhwc[..., 0], np.zeros(6), ["x"])  # (N, H, W) like MNIST
    images = decode(grey, eval_view(32, grey.native_size)).images
    assert images.shape == (6, 3, 32, 32) and torch.equal(images[:, 0], images[:, 2])


def test_batched_fetching_gives_the_same_batches():
    images = torch.randint(0, 256, (37, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(37)
    order = torch.randperm(37, generator=torch.Generator().manual_seed(0)).tolist()
    plain = DataLoader(TensorDataset(images, labels), batch_size=8, sampler=order)
    batched = DataLoader(
        BatchedTensorDataset(images, labels), batch_size=8, sampler=order, collate_fn=keep_batch
    )
    for (a, la), (b, lb) in zip(plain, batched, strict=True):
        assert torch.equal(a, b) and torch.equal(la, lb)


def test_datasplits_without_train_aug_crop_from_train(folder, cache):
    arrays = cached(folder, eval_view(32), "t", cache)
    splits = DatasetSplits("f", train=arrays, test=arrays, val=arrays)
    dm = ArraysDataModule(splits, batch_size=4, augmentation="rrc_flip")
    images, _ = next(iter(dm.train_dataloader()))
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.uint8
