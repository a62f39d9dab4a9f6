"""Every real dataset, from stand-ins in its real on-disk format, loaded through the configs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunnellab.config import compose_config
from tunnellab.errors import ConfigError, DatasetNotFoundError
from tunnellab.pipeline import instantiate_dataset, load_datasets
from tunnellab.tools.fakes import skip_torchvision_checksums, write_image_folder, write_mnist
from tunnellab.tools.fakes import write_paper8 as write_fakes


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    sizes = write_fakes(root)
    write_mnist(root, n_train=30, n_test=20)
    write_image_folder(root / "mine" / "train", ["ant", "bee", "cat"], 6, suffix=".png")
    write_image_folder(root / "mine" / "test", ["ant", "bee", "cat"], 2, suffix=".png")
    write_image_folder(root / "flat", ["ant", "bee", "cat", "dog"], 10, mode="L")
    return root, sizes


@pytest.fixture(autouse=True)
def offline_fakes(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("TUNNELLAB_CACHE", str(tmp_path_factory.getbasetemp() / "image-cache"))
    with skip_torchvision_checksums():
        yield


def _cfg(data_dir, *overrides):
    return compose_config([f"paths.data_dir={data_dir[0]}", *overrides])


def _check_splits(splits, train, test, classes, resolution):
    assert splits.sizes()["train"] == train and splits.sizes()["test"] == test
    assert splits.n_classes == classes
    for arrays in (splits.train, splits.test):
        assert arrays.images.dtype == torch.uint8
        assert tuple(arrays.images.shape[1:]) == (3, resolution, resolution)
        assert int(arrays.labels.min()) >= 0 and int(arrays.labels.max()) < classes


@pytest.mark.parametrize(
    ("id_dataset", "ood_cifar"), [("cifar10", "cifar100"), ("cifar100", "cifar10")]
)
def test_paper8_loads_every_ood_dataset_in_its_real_format(data_dir, id_dataset, ood_cifar):
    cfg = _cfg(data_dir, f"data={id_dataset}", "ood=paper8", "data.samples_per_class=2")
    id_data, ood = load_datasets(cfg)
    expected = ["ninco", "imagenet_r", "cub", "aircraft", "flowers", ood_cifar, "pets", "stl10"]
    assert list(ood) == expected
    for name, splits in ood.items():
        train, test, classes = data_dir[1][name]
        _check_splits(splits, train, test, classes, resolution=32)
        assert splits.name == name
    assert id_data.n_classes == (10 if id_dataset == "cifar10" else 100)
    assert id_data.val is id_data.test  # val_split=test: the released code's selection


def test_cifar_is_kept_at_native_32_and_resized_otherwise(data_dir):
    import pickle

    raw = pickle.loads((data_dir[0] / "cifar-10-batches-py" / "test_batch").read_bytes())
    native = np.asarray(raw["data"]).reshape(-1, 3, 32, 32)
    test32 = instantiate_dataset(_cfg(data_dir, "data=cifar10").data).test
    assert np.array_equal(test32.images.numpy(), native)  # no resize at r = 32
    test64 = instantiate_dataset(_cfg(data_dir, "data=cifar10", "data.resolution=64").data).test
    assert test64.resolution == 64


def test_class_and_sample_subsets_are_seeded_and_use_the_first_classes(data_dir):
    def subset(seed, spc=1):  # the stand-in CIFAR-100 has 2 training images per class
        cfg = _cfg(data_dir, "data=cifar100", "data.classes=20", f"data.samples_per_class={spc}",
                   f"data.seed={seed}")  # fmt: skip
        return instantiate_dataset(cfg.data)

    a, b, c = subset(0), subset(0), subset(1)
    assert len(a.train) == 20 and a.n_classes == 20
    assert np.bincount(a.train.labels.numpy()).tolist() == [1] * 20
    assert torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.train.images, c.train.images)
    assert len(a.test) == 20  # every test image of the first 20 classes (1 each here)
    with pytest.raises(ConfigError, match=r"data\.samples_per_class=3"):
        subset(0, spc=3)


def test_holdout_validation_keeps_the_training_images(data_dir):
    base = ["data=cifar100", "data.classes=10", "data.samples_per_class=1"]
    test_val = instantiate_dataset(_cfg(data_dir, *base).data)
    cfg = _cfg(data_dir, *base, "data.val_split=holdout", "data.val_per_class=1")
    held = instantiate_dataset(cfg.data)
    assert torch.equal(test_val.train.images, held.train.images)
    assert len(held.val) == 10 and held.val is not held.test


@pytest.mark.parametrize(
    ("overrides", "trained"),
    [
        ([], 40),  # the stand-in's 40 training images (the real CIFAR-10: 50,000)
        (["data.val_split=holdout", "data.val_per_class=1"], 40 - 10),
        (["data.classes=5", "data.samples_per_class=3"], 5 * 3),
    ],
)
def test_the_loaded_training_split_is_what_the_backbone_trains_on(data_dir, overrides, trained):
    splits = instantiate_dataset(_cfg(data_dir, "data=cifar10", *overrides).data)
    assert len(splits.train) == trained


def test_flowers_test_split_is_selectable(data_dir):
    val = instantiate_dataset(_cfg(data_dir, "ood=paper8").ood.datasets.flowers)
    cfg = _cfg(data_dir, "ood=paper8", "ood.datasets.flowers.test_split=test")
    test = instantiate_dataset(cfg.ood.datasets.flowers)
    assert (len(val.test), len(test.test)) == (8, 10)


def test_torchvision_dataset_by_name_greyscale_becomes_rgb(data_dir):
    cfg = _cfg(data_dir, "data=torchvision", "data.dataset=MNIST", "data.samples_per_class=2")
    assert cfg.data.name == "MNIST"
    splits = instantiate_dataset(cfg.data)
    _check_splits(splits, train=20, test=20, classes=10, resolution=32)
    image = splits.train.images[0]
    assert torch.equal(image[0], image[1]) and torch.equal(image[1], image[2])


def test_image_folder_with_test_folder_and_with_a_seeded_split(data_dir):
    cfg = _cfg(data_dir, "data=imagefolder", f"data.path={data_dir[0] / 'mine'}", "data.classes=3")
    splits = instantiate_dataset(cfg.data)
    assert splits.sizes() == {"train": 18, "val": 6, "test": 6}
    assert splits.train.classes == ["ant", "bee", "cat"]
    flat = ["data=imagefolder", f"data.path={data_dir[0] / 'flat'}", "data.classes=2"]
    a = instantiate_dataset(_cfg(data_dir, *flat).data)
    assert (len(a.train), len(a.test), a.n_classes) == (16, 4, 2)  # 80/20 of the first 2 classes
    b = instantiate_dataset(_cfg(data_dir, *flat).data)
    assert torch.equal(a.test.images, b.test.images)


def test_imagenet_r_split_is_fixed_once_and_saved_beside_the_data(data_dir):
    node = _cfg(data_dir, "ood=paper8").ood.datasets.imagenet_r
    split_file = data_dir[0] / "imagenet-r_split.tsv"
    first = instantiate_dataset(node)
    assert split_file.is_file()
    lines = [line for line in split_file.read_text().splitlines() if not line.startswith("#")]
    assert sum(line.startswith("test\t") for line in lines) == 6
    again = instantiate_dataset(node)
    assert torch.equal(first.test.images, again.test.images)


@pytest.mark.parametrize(
    "entry", ["ninco", "imagenet_r", "cub", "aircraft", "flowers", "cifar100", "pets", "stl10"]
)
def test_a_missing_dataset_says_where_what_and_how(tmp_path, entry):
    cfg = compose_config([f"paths.data_dir={tmp_path}", "ood=paper8"])
    with pytest.raises(DatasetNotFoundError) as err:
        instantiate_dataset(cfg.ood.datasets[entry])
    message = str(err.value)
    assert str(tmp_path) in message
    assert "Expected layout:" in message and "To obtain it:" in message
    assert "paths.data_dir" in message and "\n" not in message


def test_missing_id_datasets_are_explained_too(tmp_path):
    for data in ("imagenet100", "cifar10", "imagefolder", "torchvision"):
        required = ["data.dataset=SVHN"] if data == "torchvision" else []
        cfg = compose_config([f"paths.data_dir={tmp_path}", f"data={data}", *required])
        with pytest.raises(DatasetNotFoundError, match="Expected layout"):
            instantiate_dataset(cfg.data)


def test_data_check_lists_found_and_missing(data_dir, capsys):
    from tunnellab.cli.data_check import main

    assert main(["--data-dir", str(data_dir[0])]) == 0
    out = capsys.readouterr().out
    assert "ood=paper8: cub" in out and "train 6  test 6  (3 classes)" in out
    assert "data=imagenet100" in out and "missing" in out
