"""Builders named by ``conf/data/lab.yaml`` and ``conf/ood/lab.yaml``: the offline lab datasets."""

from __future__ import annotations

from tunnellab.data.arrays import DatasetSplits
from tunnellab.data.cropstore import ArrayCropSource, source_pixels
from tunnellab.data.lab import (
    MAX_RESOLUTION,
    digits_splits,
    glyph_split,
    heldout_families,
    id_families,
    procedural_source,
    procedural_split,
)

#: Side of the scenes augmented crops are cut from: at 4r RandomResizedCrop's smallest boxes
#: (8 % of the area, ~1.1 r wide) still shrink to r, as they would from a photo.
LAB_SOURCE_SIDE = "4r"

# Offsets keep the train/val/test draws of one dataset independent of each other.
_SPLIT_SEED = {"train": 0, "val": 1, "test": 2}


def _split_seed(seed: int, split: str, stream: int = 0) -> int:
    return seed * 1_000 + stream * 10 + _SPLIT_SEED[split]


def build_lab_id(
    resolution: int,
    classes: int,
    samples_per_class: int,
    val_per_class: int,
    test_per_class: int,
    seed: int = 0,
    name: str = "lab",
    augmentation: str = "none",
    source_side: int | str = LAB_SOURCE_SIDE,
) -> DatasetSplits:
    """The ID lab dataset: ``classes`` procedural families with train/val/test splits.

    With ``augmentation="rrc_flip"``, the training scenes are also rendered at ``source_side``
    (pixels, or ``<k>r``: k × resolution; at most 224) as ``train_aug``, for RandomResizedCrop
    to cut from; the splits themselves do not change.
    """
    families = id_families(classes)
    per_split = {"train": samples_per_class, "val": val_per_class, "test": test_per_class}
    splits = {
        split: procedural_split(families, n, resolution, _split_seed(seed, split))
        for split, n in per_split.items()
    }
    data = DatasetSplits(name=name, **splits)
    if augmentation == "rrc_flip":
        side = min(int(source_pixels(source_side, resolution)), MAX_RESOLUTION)
        train_seed = _split_seed(seed, "train")
        source = procedural_source(families, samples_per_class, resolution, train_seed, side)
        data.train_aug = ArrayCropSource(source, data.train.labels)
    return data


def build_heldout(
    resolution: int, train_per_class: int, test_per_class: int, seed: int = 0
) -> DatasetSplits:
    """Procedural families that are never ID classes (close to the ID task, disjoint labels)."""
    families = heldout_families()
    return DatasetSplits(
        name="heldout",
        train=procedural_split(
            families, train_per_class, resolution, _split_seed(seed, "train", 1)
        ),
        test=procedural_split(families, test_per_class, resolution, _split_seed(seed, "test", 1)),
    )


def build_glyphs(
    resolution: int, classes: int, train_per_class: int, test_per_class: int, seed: int = 0
) -> DatasetSplits:
    """Characters rendered from the fonts that ship with matplotlib."""
    return DatasetSplits(
        name="glyphs",
        train=glyph_split(classes, train_per_class, resolution, _split_seed(seed, "train", 2)),
        test=glyph_split(classes, test_per_class, resolution, _split_seed(seed, "test", 2)),
    )


def build_digits(resolution: int, test_fraction: float = 0.2, seed: int = 0) -> DatasetSplits:
    """scikit-learn's real handwritten digits, resized, with a seeded stratified split."""
    train, test = digits_splits(resolution, seed, test_fraction)
    return DatasetSplits(name="digits", train=train, test=test)
