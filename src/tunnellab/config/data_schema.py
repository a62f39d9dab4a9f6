"""Structured schemas of the real datasets: ``conf/data/*.yaml`` (ID), ``conf/ood/*.yaml`` entries.

Each dataclass names its builder (``_target_``) and carries the value rules checked at compose
time. Every field is an argument of that builder; ``only_for`` / ``skip_for`` of OOD entries are
read by :func:`tunnellab.data.ood_suite.ood_entries` and not passed on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from tunnellab.config.rules import at_least, choices, in_range, optional_at_least, source_side
from tunnellab.config.schema import AUGMENTATIONS, norm_field
from tunnellab.data.subsets import VAL_SPLITS, IdSubset
from tunnellab.data.torchvision_sets import FLOWERS_TEST_SPLITS, torchvision_dataset_names

AIRCRAFT_LEVELS = ("variant", "family", "manufacturer")
RESOLUTION = in_range(16, 512)
ALL_OR_AT_LEAST_1 = optional_at_least(1, meaning="all")


@dataclass
class ImageSetConfig:
    """What every real dataset shares: the resolution and the decode-once cache."""

    resolution: int = field(default=32, metadata=RESOLUTION)
    cache: bool = True  # decode once into a memory-mapped uint8 file; false = decode into RAM
    cache_dir: str | None = None  # null = $TUNNELLAB_CACHE or ~/.cache/tunnellab/images
    decode_workers: int = field(default=0, metadata=at_least(0))  # 0 = one thread per core


@dataclass
class IdDataConfig(ImageSetConfig):
    """An ID (pretraining) dataset: class and sample subsets, validation, augmentation view."""

    name: str = MISSING
    classes: int = field(default=10, metadata=at_least(2))
    samples_per_class: int | None = field(
        default=IdSubset.samples_per_class, metadata=ALL_OR_AT_LEAST_1
    )
    val_split: str = field(default=IdSubset.val_split, metadata=choices(*VAL_SPLITS))
    val_per_class: int = field(default=IdSubset.val_per_class, metadata=at_least(1))
    test_per_class: int | None = field(default=IdSubset.test_per_class, metadata=ALL_OR_AT_LEAST_1)
    seed: int = field(default=IdSubset.seed, metadata=at_least(0))
    augmentation: str = field(default="${aug.name}", metadata=choices(*AUGMENTATIONS))
    norm: str = norm_field()  # mean/std of pretraining and of every extraction of the backbone
    # what augmented crops are cut from: each training image with its shorter side at 4r (4 x the
    # resolution) or N pixels, decoded once and cached, or `original` (files decoded at every
    # crop); docs/datasets.md, "Training crops"
    source_side: int | str = field(default="4r", metadata=source_side(4096))


@dataclass
class ImageNet100DataConfig(IdDataConfig):
    """ImageNet-100 (CMC classes) made by ``tunnellab-prepare imagenet100``."""

    _target_: str = "tunnellab.data.imagenet100.build_imagenet100"
    name: str = "imagenet100"
    root: str = "${paths.data_dir}/imagenet100"
    resolution: int = field(default=224, metadata=RESOLUTION)
    classes: int = field(default=100, metadata=in_range(2, 100))
    class_list: str | None = None  # null = the packaged CMC list


@dataclass
class CifarDataConfig(IdDataConfig):
    """CIFAR-10 / CIFAR-100 through torchvision, at native 32²."""

    _target_: str = "tunnellab.data.torchvision_sets.build_cifar"
    name: str = field(default="cifar10", metadata=choices("cifar10", "cifar100"))
    root: str = "${paths.data_dir}"
    classes: int = field(default=10, metadata=in_range(2, 100))
    download: bool = False


@dataclass
class ImageFolderDataConfig(IdDataConfig):
    """Any class-per-folder tree (``path/<class>/`` or ``path/train/<class>/`` + ``test/``)."""

    _target_: str = "tunnellab.data.folders.build_imagefolder_id"
    name: str = "imagefolder"
    path: str = "${paths.data_dir}/imagefolder"
    train_dir: str | None = "train"
    test_dir: str | None = "test"
    test_fraction: float = field(default=0.2, metadata=in_range(0.01, 0.9))


@dataclass
class TorchvisionDataConfig(IdDataConfig):
    """Any ``torchvision.datasets`` class by name (``data.dataset=SVHN``; required)."""

    _target_: str = "tunnellab.data.torchvision_sets.build_torchvision_id"
    dataset: str = field(default=MISSING, metadata=choices(source=torchvision_dataset_names))
    name: str = "${.dataset}"
    root: str = "${paths.data_dir}"
    download: bool = False
    train_args: dict[str, Any] | None = None  # null = {train: true} or {split: train}
    test_args: dict[str, Any] | None = None
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class OodSetConfig(ImageSetConfig):
    """An OOD suite entry: at the ID resolution; used for every ID dataset unless restricted."""

    resolution: int = field(default="${data.resolution}", metadata=RESOLUTION)  # type: ignore[assignment]
    only_for: list[str] = field(default_factory=list)  # ID dataset names (empty = all)
    skip_for: list[str] = field(default_factory=list)


@dataclass
class NincoConfig(OodSetConfig):
    _target_: str = "tunnellab.data.folders.build_ninco"
    root: str = "${paths.data_dir}/NINCO/NINCO_OOD_classes"
    test_fraction: float = field(default=0.2, metadata=in_range(0.01, 0.9))
    seed: int = 0


@dataclass
class ImageNetRConfig(OodSetConfig):
    _target_: str = "tunnellab.data.folders.build_imagenet_r"
    root: str = "${paths.data_dir}/imagenet-r"
    split_file: str | None = "${paths.data_dir}/imagenet-r_split.tsv"
    test_fraction: float = field(default=0.2, metadata=in_range(0.01, 0.9))
    seed: int = 0


@dataclass
class CubConfig(OodSetConfig):
    _target_: str = "tunnellab.data.cub.build_cub"
    root: str = "${paths.data_dir}/CUB_200_2011"


@dataclass
class AircraftConfig(OodSetConfig):
    _target_: str = "tunnellab.data.torchvision_sets.build_aircraft"
    root: str = "${paths.data_dir}"
    annotation_level: str = field(default="variant", metadata=choices(*AIRCRAFT_LEVELS))
    download: bool = False


@dataclass
class FlowersConfig(OodSetConfig):
    _target_: str = "tunnellab.data.torchvision_sets.build_flowers"
    root: str = "${paths.data_dir}"
    test_split: str = field(default="val", metadata=choices(*FLOWERS_TEST_SPLITS))
    download: bool = False


@dataclass
class PetsConfig(OodSetConfig):
    _target_: str = "tunnellab.data.torchvision_sets.build_pets"
    root: str = "${paths.data_dir}"
    download: bool = False


@dataclass
class Stl10Config(OodSetConfig):
    _target_: str = "tunnellab.data.torchvision_sets.build_stl10"
    root: str = "${paths.data_dir}"
    download: bool = False


@dataclass
class CifarOodConfig(OodSetConfig):
    _target_: str = "tunnellab.data.torchvision_sets.build_cifar_ood"
    name: str = field(default="cifar100", metadata=choices("cifar10", "cifar100"))
    root: str = "${paths.data_dir}"
    download: bool = False


@dataclass
class ImageFolderOodConfig(OodSetConfig):
    _target_: str = "tunnellab.data.folders.build_imagefolder"
    path: str = MISSING
    train_dir: str | None = "train"
    test_dir: str | None = "test"
    test_fraction: float = field(default=0.2, metadata=in_range(0.01, 0.9))
    seed: int = 0
    name: str = "imagefolder"


@dataclass
class TorchvisionOodConfig(OodSetConfig):
    _target_: str = "tunnellab.data.torchvision_sets.build_torchvision"
    dataset: str = field(default=MISSING, metadata=choices(source=torchvision_dataset_names))
    root: str = "${paths.data_dir}"
    download: bool = False
    train_args: dict[str, Any] | None = None
    test_args: dict[str, Any] | None = None
    args: dict[str, Any] = field(default_factory=dict)
    name: str | None = None


#: ``schema/<name>`` in Hydra's ConfigStore → the dataclass (see tunnellab.config.store)
DATA_SCHEMAS: dict[str, type] = {
    "imagenet100_data": ImageNet100DataConfig,
    "cifar_data": CifarDataConfig,
    "imagefolder_data": ImageFolderDataConfig,
    "torchvision_data": TorchvisionDataConfig,
    "ood_ninco": NincoConfig,
    "ood_imagenet_r": ImageNetRConfig,
    "ood_cub": CubConfig,
    "ood_aircraft": AircraftConfig,
    "ood_flowers": FlowersConfig,
    "ood_pets": PetsConfig,
    "ood_stl10": Stl10Config,
    "ood_cifar": CifarOodConfig,
    "ood_imagefolder": ImageFolderOodConfig,
    "ood_torchvision": TorchvisionOodConfig,
}
