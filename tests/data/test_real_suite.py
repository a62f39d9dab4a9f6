"""The real-data configs: the paper8 selection per ID dataset, value rules, run variables."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from tunnellab.data.ood_suite import ood_entries
from tunnellab.errors import ConfigError
from tunnellab.result_tables import run_variables

PAPER8_ORDER = ["ninco", "imagenet_r", "cub", "aircraft", "flowers", "cifar100", "pets", "stl10"]


@pytest.mark.parametrize(
    ("data", "cifar"),
    [
        ("imagenet100", "cifar100"),
        ("cifar10", "cifar100"),
        ("cifar100", "cifar10"),
        ("lab", "cifar100"),
    ],
)
def test_paper8_picks_the_right_eight(compose, data, cifar):
    entries = ood_entries(compose(f"data={data}", "ood=paper8"))
    assert list(entries) == [cifar if n == "cifar100" else n for n in PAPER8_ORDER]
    for node in entries.values():
        assert "only_for" not in node and "skip_for" not in node
    assert entries["flowers"].test_split == "val"  # parity with the released code


def test_paper8_entries_follow_the_id_resolution_and_data_dir(compose):
    cfg = compose("data=imagenet100", "ood=paper8", "data.resolution=64", "paths.data_dir=/d")
    entries = ood_entries(cfg)
    assert {node.resolution for node in entries.values()} == {64}
    assert entries["ninco"].root == "/d/NINCO/NINCO_OOD_classes"
    assert entries["cub"].root == "/d/CUB_200_2011"


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (["data=imagenet100", "data.classes=101"], ["data.classes=101", "[2, 100]"]),
        (["data=imagenet100", "data.samples_per_class=0"], ["data.samples_per_class=0", "null"]),
        (["data=cifar10", "data.val_split=train"], ["data.val_split=train", "holdout"]),
        (["data=cifar10", "data.resolution=8"], ["data.resolution=8", "[16, 512]"]),
        (["data=cifar10", "data.name=cifar11"], ["data.name=cifar11", "cifar100"]),
        (["data=torchvision", "data.dataset=NotADataset"], ["data.dataset=NotADataset", "SVHN"]),
        (["data=torchvision"], ["'data.dataset' has no value", "FashionMNIST"]),
        (["data=torchvision", "data.name=SVHN"], ["'data.dataset' has no value", "SVHN"]),
        (["ood=paper8", "ood.datasets.flowers.test_split=train"], ["test_split=train", "val"]),
        (["ood=paper8", "ood.datasets.aircraft.annotation_level=model"], ["variant", "family"]),
    ],
)
def test_bad_data_values_fail_at_compose_time(compose, overrides, fragments):
    with pytest.raises(ConfigError) as err:
        compose(*overrides)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_every_id_config_keeps_the_run_variable_keys(compose):
    for data in ("imagenet100", "cifar10", "cifar100", "imagefolder", "torchvision"):
        cfg = compose(f"data={data}", *(["data.dataset=SVHN"] if data == "torchvision" else []))
        assert {"name", "resolution", "classes", "samples_per_class"} <= set(cfg.data)


@pytest.mark.parametrize(
    "overrides",
    [
        ["data=imagenet100"],
        ["data=imagenet100", "data.classes=50", "data.samples_per_class=200"],
        ["data=cifar10", "data.val_split=holdout", "data.val_per_class=100"],
        ["data=imagefolder"],
    ],
)
def test_run_variables_read_the_config_and_divide_by_the_training_images(compose, overrides):
    cfg = compose(*overrides)
    variables = run_variables(cfg, {}, n_params=1_000_000, train_images=126_689)
    assert variables["overparam"] == 1_000_000 / 126_689
    assert run_variables(cfg, {}, n_params=1_000_000, train_images=None)["overparam"] is None
    assert variables["samples_per_class"] == OmegaConf.select(cfg, "data.samples_per_class")
    assert (variables["id_dataset"], variables["id_classes"]) == (cfg.data.name, cfg.data.classes)
