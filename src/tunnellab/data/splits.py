"""Train/test splits for datasets that ship without one: seeded, or fixed once in a file."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from tunnellab.atomic import atomic_write_text
from tunnellab.data.image_sources import FileSource
from tunnellab.errors import DataError, DatasetNotFoundError

log = logging.getLogger("tunnellab")

SPLIT_HEADER = "# tunnellab fixed train/test split: <split>\\t<path relative to the dataset root>"


def stratification_problem(
    labels: np.ndarray, test_fraction: float, classes: list[str] | None = None
) -> str | None:
    """Why ``labels`` cannot be split stratified with ``test_fraction`` (None when they can)."""
    present, counts = np.unique(np.asarray(labels), return_counts=True)
    n, k = int(counts.sum()), len(present)
    n_test = math.ceil(test_fraction * n)
    if k and counts.min() < 2:
        small = [int(c) for c, m in zip(present, counts, strict=True) if m < 2]
        names = [classes[c] if classes else f"#{c}" for c in small]
        shown = ", ".join(f"'{name}'" for name in names[:5])
        more = f" and {len(names) - 5} more" if len(names) > 5 else ""
        return f"{len(small)} class(es) have a single image ({shown}{more})"
    if n_test < k:
        return (
            f"test_fraction={test_fraction} of {n} images gives {n_test} test images, fewer "
            f"than the {k} classes"
        )
    if n - n_test < k:
        return f"test_fraction={test_fraction} leaves {n - n_test} training images for {k} classes"
    return None


def stratified_holdout(
    labels: np.ndarray,
    test_fraction: float,
    seed: int,
    where: str = "The dataset",
    classes: list[str] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) positions: a stratified ``test_fraction`` split, seeded.

    ``sklearn.model_selection.train_test_split(stratify=labels, random_state=seed)``: the test
    split has ``ceil(test_fraction · n)`` images (NINCO: 4,702 / 1,176; ImageNet-R 24,000 / 6,000).
    Too few images per class is a :class:`DataError` naming ``where`` (and the ``classes``).
    """
    from sklearn.model_selection import train_test_split  # imported when needed: it is slow

    problem = stratification_problem(labels, test_fraction, classes)
    if problem is not None:
        raise DataError(
            f"{where} has too few images per class for a seeded stratified train/test split: "
            f"{problem}. Every class needs at least 2 images (one to train on, one to test on) "
            "and each split at least one image per class; add images, use fewer classes, "
            "change test_fraction, or give a separate test folder (<path>/test/<class>/)."
        )
    positions = np.arange(len(labels))
    train, test = train_test_split(
        positions, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return np.sort(train), np.sort(test)


def fixed_split(
    source: FileSource, root: Path, split_file: Path, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) positions read from ``split_file``; generated (seeded) and saved if absent.

    The file lists every image as ``train|test<TAB>path relative to root``, so the split stays the
    same on every machine and for every later run. When the file cannot be written (read-only
    data), the split is still the seeded one, and a warning says so.
    """
    relative = [p.relative_to(root).as_posix() for p in source.paths]
    if split_file.is_file():
        return _read_split(split_file, relative)
    train, test = stratified_holdout(source.labels, test_fraction, seed)
    side = np.empty(len(relative), dtype=object)
    side[train], side[test] = "train", "test"
    lines = [SPLIT_HEADER, f"# seed={seed} test_fraction={test_fraction}"]
    lines += [f"{s}\t{r}" for s, r in zip(side, relative, strict=True)]
    try:
        split_file.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(split_file, "\n".join(lines) + "\n")
        log.info("wrote the fixed split %s", split_file)
    except OSError as err:
        log.warning("could not save the split to %s (%s); using it unsaved", split_file, err)
    return train, test


def _read_split(split_file: Path, relative: list[str]) -> tuple[np.ndarray, np.ndarray]:
    position = {r: i for i, r in enumerate(relative)}
    train, test, unknown = [], [], []
    for line in split_file.read_text().splitlines():
        if not line or line.startswith("#"):
            continue
        side, rel = line.split("\t", 1)
        if rel not in position:
            unknown.append(rel)
            continue
        (train if side == "train" else test).append(position[rel])
    listed = len(train) + len(test)
    if unknown or listed != len(relative):
        raise DatasetNotFoundError(
            f"The fixed split {split_file} does not match the images on disk ({len(unknown)} "
            f"listed files are missing, {len(relative) - listed} images on disk are not listed). "
            "Restore the dataset as it was, or delete the split file to make a new one."
        )
    return np.sort(np.asarray(train, dtype=np.int64)), np.sort(np.asarray(test, dtype=np.int64))
