"""Tiny stand-ins for the real datasets, written in each one's real on-disk format.

For the tests, the data benchmark and trying the loaders without the real data. Images are seeded
noise-and-gradient pictures (JPEG-compressible like photos); the formats are the real ones: CIFAR
pickle batches, STL-10 binaries, Flowers-102 ``.mat`` files, Pets and Aircraft annotation lists,
CUB's text files, MNIST idx files, class-per-folder trees.
"""

from __future__ import annotations

import pickle
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image


def picture(rng: np.random.Generator, height: int, width: int, label: int = 0) -> np.ndarray:
    """A uint8 ``(H, W, 3)`` picture: a label-dependent colour gradient plus smooth noise."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    hue = (label * 0.37) % 1.0
    base = np.stack(
        [
            128 + 100 * np.sin(2 * np.pi * (hue + xx / max(width, 1))),
            128 + 100 * np.cos(2 * np.pi * (hue + yy / max(height, 1))),
            np.full_like(xx, 255 * hue),
        ],
        axis=-1,
    )
    coarse = rng.normal(0, 40, (max(height // 8, 1), max(width // 8, 1), 3)).astype(np.float32)
    noise = np.asarray(
        Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize((width, height))
    )
    return np.clip(base + noise.astype(np.float32) - 128, 0, 255).astype(np.uint8)


def save_image(
    path: Path, rng: np.random.Generator, size: tuple[int, int], label: int, mode: str = "RGB"
) -> Path:
    """Write one picture of ``size`` (width, height) to ``path`` (format from its suffix)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    Image.fromarray(picture(rng, height, width, label)).convert(mode).save(path)
    return path


def _sizes(rng: np.random.Generator, n: int, size: tuple[int, int], jitter: int) -> list:
    return [
        (
            size[0] + int(rng.integers(-jitter, jitter + 1)),
            size[1] + int(rng.integers(0, jitter + 1)),
        )
        for _ in range(n)
    ]


def write_image_folder(
    root: Path,
    classes: Sequence[str],
    per_class: int,
    size: tuple[int, int] = (40, 30),
    seed: int = 0,
    suffix: str = ".jpg",
    jitter: int = 4,
    mode: str = "RGB",
) -> list[Path]:
    """``root/<class>/<class>_<i><suffix>``, images of about ``size`` (varying a little)."""
    rng = np.random.default_rng(seed)
    paths = []
    for label, name in enumerate(classes):
        for i, wh in enumerate(_sizes(rng, per_class, size, jitter)):
            paths.append(save_image(root / name / f"{name}_{i:04d}{suffix}", rng, wh, label, mode))
    return paths


def _random_array(rng: np.random.Generator, n: int, side: int, n_classes: int):
    labels = rng.permutation(np.arange(n) % n_classes)  # balanced, in shuffled order
    images = np.stack([picture(rng, side, side, int(c)) for c in labels]) if n else None
    return images, labels


def write_cifar(root: Path, name: str, n_train: int, n_test: int, seed: int = 0) -> Path:
    """CIFAR-10 (``cifar-10-batches-py``) or CIFAR-100 (``cifar-100-python``) pickle batches."""
    rng = np.random.default_rng(seed)
    cifar10 = name == "cifar10"
    n_classes = 10 if cifar10 else 100
    folder = root / ("cifar-10-batches-py" if cifar10 else "cifar-100-python")
    folder.mkdir(parents=True, exist_ok=True)
    label_key = "labels" if cifar10 else "fine_labels"
    train_files = [f"data_batch_{i}" for i in range(1, 6)] if cifar10 else ["train"]
    parts = np.array_split(np.arange(n_train), len(train_files))
    images, labels = _random_array(rng, n_train, 32, n_classes)
    for file, part in zip(train_files, parts, strict=True):
        batch = {"data": images[part].transpose(0, 3, 1, 2).reshape(len(part), -1)}
        batch[label_key] = labels[part].tolist()
        (folder / file).write_bytes(pickle.dumps(batch))
    images, labels = _random_array(rng, n_test, 32, n_classes)
    batch = {"data": images.transpose(0, 3, 1, 2).reshape(n_test, -1), label_key: labels.tolist()}
    (folder / ("test_batch" if cifar10 else "test")).write_bytes(pickle.dumps(batch))
    meta_key = "label_names" if cifar10 else "fine_label_names"
    names = [f"class{c:03d}" for c in range(n_classes)]
    (folder / ("batches.meta" if cifar10 else "meta")).write_bytes(pickle.dumps({meta_key: names}))
    return folder


def write_stl10(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """``stl10_binary/{train,test}_{X,y}.bin`` (96², column-major, labels 1..10)."""
    rng = np.random.default_rng(seed)
    folder = root / "stl10_binary"
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images, labels = _random_array(rng, n, 96, 10)
        images.transpose(0, 3, 2, 1).tofile(folder / f"{split}_X.bin")  # (N, C, W, H) on disk
        (labels + 1).astype(np.uint8).tofile(folder / f"{split}_y.bin")
    (folder / "class_names.txt").write_text("\n".join(f"class{c}" for c in range(10)) + "\n")
    (folder / "unlabeled_X.bin").write_bytes(b"")  # the real one holds 100,000 unlabelled images
    return folder


def write_flowers(root: Path, splits: dict[str, int], seed: int = 0) -> Path:
    """``flowers-102/{jpg/image_00001.jpg.., imagelabels.mat, setid.mat}`` (102 classes)."""
    from scipy.io import savemat

    rng = np.random.default_rng(seed)
    folder = root / "flowers-102"
    n = sum(splits.values())
    labels = (np.arange(n) % 102) + 1
    for image_id in range(1, n + 1):
        wh = (50 + int(rng.integers(0, 9)), 40)
        save_image(folder / "jpg" / f"image_{image_id:05d}.jpg", rng, wh, int(labels[image_id - 1]))
    ids = rng.permutation(np.arange(1, n + 1))
    bounds = np.cumsum([0, *splits.values()])
    keys = {"train": "trnid", "val": "valid", "test": "tstid"}
    setid = {keys[s]: ids[bounds[i] : bounds[i + 1]] for i, s in enumerate(splits)}
    savemat(folder / "setid.mat", setid)
    savemat(folder / "imagelabels.mat", {"labels": labels})
    return folder


def write_pets(root: Path, breeds: Sequence[str], per_split: int, seed: int = 0) -> Path:
    """``oxford-iiit-pet/{images/<Breed>_<n>.jpg, annotations/{trainval,test}.txt}``."""
    rng = np.random.default_rng(seed)
    folder = root / "oxford-iiit-pet"
    (folder / "annotations").mkdir(parents=True, exist_ok=True)
    number = 0
    for split in ("trainval", "test"):
        lines = []
        for label, breed in enumerate(breeds, start=1):
            for _ in range(per_split):
                number += 1
                image_id = f"{breed}_{number}"
                save_image(folder / "images" / f"{image_id}.jpg", rng, (44, 36), label)
                species = 1 if breed[0].isupper() else 2
                lines.append(f"{image_id} {label} {species} {label}")
        (folder / "annotations" / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return folder


def write_aircraft(root: Path, variants: Sequence[str], per_split: int, seed: int = 0) -> Path:
    """``fgvc-aircraft-2013b/data/{images/, variants.txt, images_variant_{trainval,test}.txt}``."""
    rng = np.random.default_rng(seed)
    data = root / "fgvc-aircraft-2013b" / "data"
    (data / "images").mkdir(parents=True, exist_ok=True)
    (data / "variants.txt").write_text("\n".join(variants) + "\n")
    number = 1_000_000
    for split in ("trainval", "test"):
        lines = []
        for label, variant in enumerate(variants):
            for _ in range(per_split):
                number += 1
                save_image(data / "images" / f"{number}.jpg", rng, (60, 40), label)
                lines.append(f"{number} {variant}")
        (data / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n")
    return data


def write_cub(root: Path, n_classes: int, per_class: int, seed: int = 0) -> Path:
    """``CUB_200_2011/`` with images.txt, image_class_labels.txt, train_test_split.txt."""
    rng = np.random.default_rng(seed)
    folder = root / "CUB_200_2011"
    images, labels, split, classes = [], [], [], []
    image_id = 0
    for c in range(1, n_classes + 1):
        name = f"{c:03d}.Bird_{c}"
        classes.append(f"{c} {name}")
        for i in range(per_class):
            image_id += 1
            rel = f"{name}/Bird_{c}_{i:04d}.jpg"
            save_image(folder / "images" / rel, rng, (48, 40), c)
            images.append(f"{image_id} {rel}")
            labels.append(f"{image_id} {c}")
            split.append(f"{image_id} {int(i % 2 == 0)}")
    for file, lines in (
        ("images.txt", images),
        ("image_class_labels.txt", labels),
        ("train_test_split.txt", split),
        ("classes.txt", classes),
    ):
        (folder / file).write_text("\n".join(lines) + "\n")
    return folder


def _idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) in the idx format of MNIST (big-endian dims after a magic)."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, n_train: int, n_test: int, seed: int = 0) -> Path:
    """``MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (28² greyscale)."""
    rng = np.random.default_rng(seed)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images, labels = _random_array(rng, n, 28, 10)
        _idx(raw / f"{prefix}-images-idx3-ubyte", images[..., 0])
        _idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
    return raw


@contextmanager
def skip_torchvision_checksums() -> Iterator[None]:
    """Let torchvision accept fake CIFAR / STL-10 / Flowers-102 files (tests only).

    torchvision checks those files against the md5 of the real downloads, which a stand-in cannot
    match; everything else (layout, parsing) stays torchvision's own.
    """
    import torchvision.datasets.cifar as cifar
    import torchvision.datasets.flowers102 as flowers
    import torchvision.datasets.stl10 as stl10

    modules = (cifar, flowers, stl10)
    saved = [m.check_integrity for m in modules]
    for module in modules:
        module.check_integrity = lambda path, md5=None: Path(path).is_file()
    try:
        yield
    finally:
        for module, original in zip(modules, saved, strict=True):
            module.check_integrity = original


#: sizes of :func:`write_paper8`'s stand-ins: dataset → (train, test, classes)
PAPER8_FAKE_SIZES = {
    "ninco": (24, 6, 3),
    "imagenet_r": (24, 6, 3),
    "cub": (6, 6, 3),
    "aircraft": (6, 6, 3),
    "flowers": (12, 8, 102),
    "cifar100": (200, 100, 100),
    "cifar10": (40, 20, 10),
    "pets": (6, 6, 3),
    "stl10": (20, 30, 10),
}


def write_paper8(root: Path, seed: int = 0) -> dict[str, tuple[int, int, int]]:
    """Stand-ins for the paper's OOD datasets (and both CIFARs) under one data dir.

    Laid out exactly where ``conf/ood/paper8.yaml`` looks (``paths.data_dir=root``); returns
    :data:`PAPER8_FAKE_SIZES`.
    """
    write_image_folder(root / "NINCO" / "NINCO_OOD_classes", ["amp", "bat", "cog"], 10, seed=seed)
    write_image_folder(root / "imagenet-r", ["n01443537", "n01484850", "n01494475"], 10, seed=seed)
    write_cub(root, n_classes=3, per_class=4, seed=seed)
    write_aircraft(root, ["707-320", "A320", "Cessna 172"], per_split=2, seed=seed)
    write_flowers(root, {"train": 12, "val": 8, "test": 10}, seed=seed)
    write_cifar(root, "cifar100", 200, 100, seed=seed)
    write_cifar(root, "cifar10", 40, 20, seed=seed)
    write_pets(root, ["Abyssinian", "beagle", "Bengal"], per_split=2, seed=seed)
    write_stl10(root, 20, 30, seed=seed)
    return PAPER8_FAKE_SIZES
