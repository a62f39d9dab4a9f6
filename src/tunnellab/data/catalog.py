"""Where each real dataset lives, what it looks like on disk and how to obtain it.

One table feeds the missing-data errors, ``make data-check`` and ``docs/datasets.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tunnellab.errors import DatasetNotFoundError

DATA_DIR_HINT = (
    "Point tunnellab at your datasets with paths.data_dir (the TUNNELLAB_DATA environment "
    "variable, or paths.data_dir in the git-ignored conf/local/default.yaml)"
)


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's display name, its expected on-disk layout and how to get it."""

    title: str
    layout: str
    obtain: str


_TORCHVISION_DOWNLOAD = "or download it with torchvision by adding download=true to its config"

CATALOG: dict[str, DatasetInfo] = {
    "imagenet100": DatasetInfo(
        "ImageNet-100",
        "<root>/train/<wnid>/*.JPEG and <root>/val/<wnid>/*.JPEG for the 100 classes of the CMC "
        "list (126,689 train / 5,000 val images)",
        "get ImageNet-1K (ILSVRC2012) from https://image-net.org, then run `tunnellab-prepare "
        "imagenet100 --imagenet <ImageNet-1K dir> --out <data_dir>/imagenet100`",
    ),
    "cifar10": DatasetInfo(
        "CIFAR-10",
        "<root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta} (the python pickle "
        "batches)",
        "extract cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into "
        f"<root>, {_TORCHVISION_DOWNLOAD}",
    ),
    "cifar100": DatasetInfo(
        "CIFAR-100",
        "<root>/cifar-100-python/{train,test,meta} (the python pickle batches)",
        "extract cifar-100-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html into "
        f"<root>, {_TORCHVISION_DOWNLOAD}",
    ),
    "ninco": DatasetInfo(
        "NINCO",
        "<root>/<class>/*.jpg, one folder per class (64 classes, 5,878 images); the default "
        "root is <data_dir>/NINCO/NINCO_OOD_classes",
        "download NINCO_all.tar.gz from https://github.com/j-cb/NINCO (Zenodo link in its "
        "README) and extract it into <data_dir>",
    ),
    "imagenet_r": DatasetInfo(
        "ImageNet-R",
        "<root>/<wnid>/*.jpg, one folder per class (200 classes, 30,000 images); the fixed 80/20 "
        "split is written beside it on first use",
        "download imagenet-r.tar from https://github.com/hendrycks/imagenet-r and extract it into "
        "<data_dir>",
    ),
    "cub": DatasetInfo(
        "CUB-200-2011",
        "<root>/{images.txt,image_class_labels.txt,train_test_split.txt,classes.txt} and "
        "<root>/images/<class>/*.jpg (the official archive; 5,994 train / 5,794 test)",
        "download CUB_200_2011.tgz from https://www.vision.caltech.edu/datasets/cub_200_2011/ "
        "and extract it into <data_dir>",
    ),
    "aircraft": DatasetInfo(
        "FGVC-Aircraft",
        "<root>/fgvc-aircraft-2013b/data/{images/,variants.txt,images_variant_trainval.txt,"
        "images_variant_test.txt} (6,667 trainval / 3,333 test)",
        "extract fgvc-aircraft-2013b.tar.gz from "
        "https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/ into <root>, "
        + _TORCHVISION_DOWNLOAD,
    ),
    "flowers": DatasetInfo(
        "Oxford Flowers-102",
        "<root>/flowers-102/{jpg/image_00001.jpg..,imagelabels.mat,setid.mat}",
        "put 102flowers.tgz (extracted), imagelabels.mat and setid.mat from "
        "https://www.robots.ox.ac.uk/~vgg/data/flowers/102/ into <root>/flowers-102, "
        + _TORCHVISION_DOWNLOAD,
    ),
    "pets": DatasetInfo(
        "Oxford-IIIT Pets",
        "<root>/oxford-iiit-pet/{images/*.jpg,annotations/trainval.txt,annotations/test.txt}",
        "extract images.tar.gz and annotations.tar.gz from "
        "https://www.robots.ox.ac.uk/~vgg/data/pets/ into <root>/oxford-iiit-pet, "
        + _TORCHVISION_DOWNLOAD,
    ),
    "stl10": DatasetInfo(
        "STL-10",
        "<root>/stl10_binary/{train_X.bin,train_y.bin,test_X.bin,test_y.bin,class_names.txt,...}",
        "extract stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/ into <root>, "
        + _TORCHVISION_DOWNLOAD,
    ),
    "imagefolder": DatasetInfo(
        "Image folder",
        "<path>/<class>/<image> (one folder per class), or <path>/train/<class>/<image> with an "
        "optional <path>/test/<class>/<image>; without a test folder a seeded stratified split "
        "is used",
        "arrange your images one folder per class",
    ),
}


def torchvision_info(class_name: str) -> DatasetInfo:
    """Catalog entry of a torchvision dataset class named by the user."""
    return DatasetInfo(
        f"torchvision.datasets.{class_name}",
        f"whatever torchvision.datasets.{class_name} expects under <root> (see its documentation)",
        f"follow torchvision's documentation for {class_name}, {_TORCHVISION_DOWNLOAD}",
    )


def dataset_not_found(
    info: DatasetInfo | str, searched: str | Path, detail: str = "", key: str = ""
) -> DatasetNotFoundError:
    """A one-paragraph error: the path searched, the expected layout and how to obtain it."""
    info = CATALOG[info] if isinstance(info, str) else info
    what = f" ({detail})" if detail else ""
    where = f", or set {key} directly" if key else ""
    searched = Path(searched).expanduser().absolute()
    return DatasetNotFoundError(
        f"{info.title} was not found at {searched}{what}. Expected layout: {info.layout}. "
        f"To obtain it: {info.obtain}. {DATA_DIR_HINT}{where}."
    )
