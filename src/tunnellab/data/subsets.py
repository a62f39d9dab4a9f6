"""Which images an ID dataset trains on: the first C classes, then S seeded images per class.

The paper's protocol: classes in sorted folder order (label order), the first ``classes`` of them;
then, class by class, one ``numpy.random.RandomState(seed)`` draws ``choice(replace=False)`` of
``samples_per_class`` images (files in name order); the test split is every test (ImageNet val)
image of those classes. Validation: the test split itself (``val_split=test``, what the released
code selected checkpoints on) or ``val_per_class`` held-out train images (``holdout``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tunnellab.data.image_sources import ImageSource, SplitSources
from tunnellab.errors import ConfigError

#: ``data.val_split``: validate on the test split itself, or on held-out training images
VAL_SPLITS = ("test", "holdout")


@dataclass(frozen=True)
class IdSubset:
    """Which images of an ID dataset a run uses: the subset keys every ``index_*_id`` takes."""

    classes: int
    samples_per_class: int | None = None
    seed: int = 0
    val_split: str = "test"
    val_per_class: int = 50
    test_per_class: int | None = None


def first_classes(source: ImageSource, n_classes: int, dataset: str) -> ImageSource:
    """The images of labels ``0 .. n_classes-1`` (the first classes in sorted order)."""
    available = len(source.classes)
    if n_classes > available:
        raise ConfigError(
            f"'data.classes={n_classes}' is more than the {available} classes of {dataset}; "
            f"data.classes must be at most {available}."
        )
    keep = np.flatnonzero(source.labels < n_classes)
    return source.select(keep, source.classes[:n_classes])


def _choose(
    rng: np.random.RandomState, pool: np.ndarray, n: int, key: str, cls: str, value: int
) -> np.ndarray:
    if n > len(pool):
        raise ConfigError(
            f"'{key}={value}' is more than class '{cls}' has ({len(pool)} images available); "
            f"lower {key}."
        )
    return np.sort(rng.choice(pool, n, replace=False))


def per_class_sample(
    labels: np.ndarray,
    classes: list[str],
    per_class: int,
    seed: int,
    key: str,
    exclude: np.ndarray | None = None,
    at_most: bool = False,
) -> np.ndarray:
    """Sorted positions of ``per_class`` images per class: one RandomState(seed), class by class.

    A class with fewer images raises :class:`ConfigError`, or gives all it has with ``at_most``.
    """
    rng = np.random.RandomState(seed)
    taken = np.zeros(len(labels), dtype=bool)
    if exclude is not None:
        taken[exclude] = True
    chosen = []
    for c, name in enumerate(classes):
        pool = np.flatnonzero((labels == c) & ~taken)
        n = min(per_class, len(pool)) if at_most else per_class
        chosen.append(_choose(rng, pool, n, key, name, per_class))
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def id_sources(name: str, train: ImageSource, test: ImageSource, subset: IdSubset) -> SplitSources:
    """Train / val / test sources of an ID dataset under the paper's class and sample subsets."""
    train = first_classes(train, subset.classes, name)
    test = first_classes(test, subset.classes, name)
    sampled = subset.samples_per_class is not None
    if sampled:
        picked = per_class_sample(
            train.labels, train.classes, subset.samples_per_class, subset.seed,
            "data.samples_per_class",
        )  # fmt: skip
    else:
        picked = np.arange(len(train))
    if subset.val_split not in VAL_SPLITS:
        raise ConfigError(
            f"'data.val_split={subset.val_split}' must be one of: {', '.join(VAL_SPLITS)}."
        )
    val = test
    if subset.val_split == "holdout":
        # Drawn with its own stream from the images not picked for training, so the training
        # images are the same whichever validation is used. Without a sample subset, the
        # held-out images leave the training split.
        held = per_class_sample(
            train.labels,
            train.classes,
            subset.val_per_class,
            subset.seed + 1,
            "data.val_per_class",
            exclude=picked if sampled else None,
        )
        if not sampled:
            picked = np.setdiff1d(picked, held)
        val = train.select(held)
    if subset.test_per_class is not None:
        test_index = per_class_sample(
            test.labels, test.classes, subset.test_per_class, subset.seed + 2,
            "data.test_per_class", at_most=True,
        )  # fmt: skip
        test = test.select(test_index)
        val = test if subset.val_split == "test" else val
    return SplitSources(name=name, train=train.select(picked), test=test, val=val)
