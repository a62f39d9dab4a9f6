"""Datasets read by torchvision's classes: CIFAR, STL-10, Flowers-102, Pets, Aircraft, any other.

torchvision only indexes (file lists, label files, or the arrays it loads); decoding and the
paper's transform happen once, in :mod:`tunnellab.data.imagecache`. ``download=True`` is passed
through for a machine with a network; a dataset that is absent raises
:class:`~tunnellab.errors.DatasetNotFoundError` with the path, the layout and how to get it.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torchvision.datasets

from tunnellab.data.builders import dataset_builder
from tunnellab.data.catalog import DatasetInfo, dataset_not_found, torchvision_info
from tunnellab.data.image_sources import (
    ArraySource,
    FileSource,
    ImageSource,
    ItemSource,
    SplitSources,
)
from tunnellab.data.subsets import IdSubset, id_sources
from tunnellab.errors import ConfigError

CIFAR_CLASSES = {"cifar10": "CIFAR10", "cifar100": "CIFAR100"}
#: Flowers-102 ``test_split``: ``val`` (what the released code tested on) or ``test``
FLOWERS_TEST_SPLITS = ("val", "test")


def torchvision_dataset_names() -> list[str]:
    """The dataset classes torchvision offers (what ``data.dataset`` may name)."""
    return sorted(torchvision.datasets.__all__)


def open_torchvision(
    class_name: str,
    root: str | Path,
    download: bool,
    info: DatasetInfo | str,
    config_key: str,
    **kwargs: Any,
) -> torchvision.datasets.VisionDataset:
    """``torchvision.datasets.<class_name>(root, download=..., **kwargs)``; absent → explained."""
    cls = getattr(torchvision.datasets, class_name)
    root = Path(root).expanduser()
    try:
        return cls(root=str(root), download=download, **kwargs)
    except (RuntimeError, OSError) as err:  # torchvision's "not found or corrupted", or a download
        reason = f"torchvision.datasets.{class_name} said: {str(err).strip().rstrip('.')}"
        raise dataset_not_found(info, root, detail=reason, key=config_key) from None


def dataset_labels(ds: Any) -> np.ndarray:
    """Integer labels of a torchvision dataset, read without decoding images when possible."""
    for attr in ("targets", "labels", "_labels"):
        values = getattr(ds, attr, None)
        if values is not None and len(values) == len(ds):
            values = values.numpy() if isinstance(values, torch.Tensor) else values
            return np.asarray(values, dtype=np.int64)
    samples = getattr(ds, "_samples", None) or getattr(ds, "samples", None)
    if samples:
        return np.asarray([s[1] for s in samples], dtype=np.int64)
    return np.asarray([int(ds[i][1]) for i in range(len(ds))], dtype=np.int64)


def _file_list(ds: Any, n: int) -> list[Any] | None:
    for attr in ("_image_files", "_images"):
        files = getattr(ds, attr, None)
        if (
            isinstance(files, list)
            and len(files) == n
            and all(isinstance(f, (str, Path)) for f in files)
        ):
            return files
    samples = getattr(ds, "samples", None) or getattr(ds, "_samples", None)
    if samples and len(samples) == n and isinstance(samples[0][0], (str, Path)):
        return [s[0] for s in samples]
    return None


def source_of(ds: Any, description: str) -> ImageSource:
    """The best source for a torchvision dataset: its files, its uint8 array, or its items."""
    labels = dataset_labels(ds)
    classes = list(getattr(ds, "classes", None) or [str(i) for i in range(int(labels.max()) + 1)])
    files = _file_list(ds, len(labels))
    if files is not None:
        return FileSource(files, labels, classes)
    data = getattr(ds, "data", None)
    is_array = isinstance(data, (np.ndarray, torch.Tensor)) and len(data) == len(labels)
    if is_array and data.dtype in (np.uint8, torch.uint8):
        return ArraySource(data, labels, classes)
    return ItemSource(lambda i: ds[i][0], labels, classes, description)


def split_args(class_name: str, split: str, given: Mapping[str, Any] | None) -> dict[str, Any]:
    """Constructor arguments selecting ``split`` (train/test): ``given``, or guessed."""
    if given is not None:
        return dict(given)
    params = inspect.signature(getattr(torchvision.datasets, class_name).__init__).parameters
    if "train" in params:
        return {"train": split == "train"}
    if "split" in params:
        return {"split": split}
    raise ConfigError(
        f"torchvision.datasets.{class_name} takes neither `train` nor `split`; say how to select "
        "each split with train_args and test_args (e.g. data.train_args={split: train})."
    )


def _torchvision_splits(
    dataset: str,
    root: str,
    download: bool,
    train_args: Mapping[str, Any] | None,
    test_args: Mapping[str, Any] | None,
    args: Mapping[str, Any] | None,
    config_key: str,
) -> tuple[ImageSource, ImageSource]:
    if not hasattr(torchvision.datasets, dataset):
        allowed = ", ".join(torchvision_dataset_names())
        raise ConfigError(f"'{dataset}' is not a torchvision dataset; use one of: {allowed}.")
    info = torchvision_info(dataset)
    sources = []
    for split, given in (("train", train_args), ("test", test_args)):
        kwargs = {**dict(args or {}), **split_args(dataset, split, given)}
        ds = open_torchvision(dataset, root, download, info, config_key, **kwargs)
        sources.append(source_of(ds, f"{dataset}({root}, {sorted(kwargs.items())})"))
    return sources[0], sources[1]


def index_torchvision(
    dataset: str,
    root: str,
    download: bool = False,
    train_args: dict[str, Any] | None = None,
    test_args: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    name: str | None = None,
) -> SplitSources:
    """Any torchvision dataset class by name, as an OOD dataset."""
    train, test = _torchvision_splits(
        dataset, root, download, train_args, test_args, args, "its root"
    )
    return SplitSources(name=name or dataset.lower(), train=train, test=test)


def index_torchvision_id(
    dataset: str,
    root: str,
    download: bool = False,
    train_args: dict[str, Any] | None = None,
    test_args: dict[str, Any] | None = None,
    args: dict[str, Any] | None = None,
    name: str | None = None,
    **subset: Any,
) -> SplitSources:
    """Any torchvision dataset class by name, as the ID dataset (``subset``: the keys of
    :class:`IdSubset`)."""
    train, test = _torchvision_splits(
        dataset, root, download, train_args, test_args, args, "data.root"
    )
    return id_sources(name or dataset.lower(), train, test, IdSubset(**subset))


def _cifar(name: str, root: str, download: bool, config_key: str) -> tuple[ArraySource, ...]:
    if name not in CIFAR_CLASSES:
        raise ConfigError(f"'{name}' is not a CIFAR; use one of: {', '.join(CIFAR_CLASSES)}.")
    return tuple(
        source_of(
            open_torchvision(CIFAR_CLASSES[name], root, download, name, config_key, train=train),
            name,
        )
        for train in (True, False)
    )


def index_cifar(name: str, root: str, download: bool = False, **subset: Any) -> SplitSources:
    """CIFAR-10 or CIFAR-100 as the ID dataset, at native 32² (``subset``: the keys of
    :class:`IdSubset`)."""
    train, test = _cifar(name, root, download, "data.root")
    return id_sources(name, train, test, IdSubset(**subset))


def index_cifar_ood(name: str, root: str, download: bool = False) -> SplitSources:
    """CIFAR-10 or CIFAR-100 as an OOD dataset: 50,000 train / 10,000 test."""
    train, test = _cifar(name, root, download, f"ood.datasets.{name}.root")
    return SplitSources(name=name, train=train, test=test)


def _two_splits(
    class_name: str,
    key: str,
    root: str,
    download: bool,
    splits: tuple[str, str],
    **kwargs: Any,
) -> SplitSources:
    train, test = (
        source_of(
            open_torchvision(
                class_name, root, download, key, f"ood.datasets.{key}.root", split=split, **kwargs
            ),
            key,
        )
        for split in splits
    )
    return SplitSources(name=key, train=train, test=test)


def index_stl10(root: str, download: bool = False) -> SplitSources:
    """STL-10's labelled images: 5,000 train / 8,000 test at 96²."""
    return _two_splits("STL10", "stl10", root, download, ("train", "test"))


def index_flowers(root: str, test_split: str = "val", download: bool = False) -> SplitSources:
    """Oxford Flowers-102: train, and ``val`` (the released code's choice) or ``test``."""
    if test_split not in FLOWERS_TEST_SPLITS:
        raise ConfigError(
            f"Flowers-102 test_split must be one of: {', '.join(FLOWERS_TEST_SPLITS)}."
        )
    return _two_splits("Flowers102", "flowers", root, download, ("train", test_split))


def index_pets(root: str, download: bool = False) -> SplitSources:
    """Oxford-IIIT Pets, 37 breeds: trainval / test."""
    return _two_splits("OxfordIIITPet", "pets", root, download, ("trainval", "test"))


def index_aircraft(
    root: str, annotation_level: str = "variant", download: bool = False
) -> SplitSources:
    """FGVC-Aircraft at the variant level (100 classes): trainval 6,667 / test 3,333."""
    return _two_splits(
        "FGVCAircraft", "aircraft", root, download, ("trainval", "test"),
        annotation_level=annotation_level,
    )  # fmt: skip


build_torchvision = dataset_builder(index_torchvision)
build_torchvision_id = dataset_builder(index_torchvision_id)
build_cifar = dataset_builder(index_cifar)
build_cifar_ood = dataset_builder(index_cifar_ood)
build_stl10 = dataset_builder(index_stl10)
build_flowers = dataset_builder(index_flowers)
build_pets = dataset_builder(index_pets)
build_aircraft = dataset_builder(index_aircraft)
