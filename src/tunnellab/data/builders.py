"""From indexed sources to in-memory splits: the step every real dataset builder shares.

A dataset module writes an *indexer* (config values → :class:`SplitSources`, no decoding) and
wraps it with :func:`dataset_builder`; the result is the ``_target_`` of its config. The builder
takes the indexer's arguments plus the materialisation ones (``resolution``, ``cache``,
``cache_dir``, ``decode_workers``, and ``augmentation`` / ``source_side`` for ID datasets; an
OOD entry's ``only_for`` / ``skip_for`` are accepted and ignored), and keeps the indexer as
``.index`` (``make data-check`` counts images with it, without decoding anything).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.data.cropstore import (
    DEFAULT_SOURCE_SIDE,
    ORIGINAL,
    ArrayCropSource,
    CropSource,
    DecodingCropSource,
    cached_store,
    decode_store,
    source_pixels,
)
from tunnellab.data.image_sources import ImageSource, SplitSources
from tunnellab.data.imagecache import cached, decode
from tunnellab.data.ood_suite import SELECTION_KEYS
from tunnellab.data.views import View, eval_view

Indexer = Callable[..., SplitSources]


@dataclass(frozen=True)
class Materialize:
    """How sources become uint8 arrays: the resolution and the decode-once cache."""

    resolution: int
    cache: bool = True
    cache_dir: str | Path | None = None
    decode_workers: int = 0
    augmentation: str = "none"
    source_side: int | str = DEFAULT_SOURCE_SIDE

    def arrays(self, source: ImageSource, view: View, label: str) -> ImageArrays:
        if self.cache:
            return cached(source, view, label, self.cache_dir, self.decode_workers)
        return decode(source, view, self.decode_workers, desc=f"decode {label}")

    def crop_source(self, source: ImageSource, train: ImageArrays, label: str) -> CropSource:
        """The training images at ``source_side`` for RandomResizedCrop to cut from.

        Images all stored at the resolution already (CIFAR at 32²) are cropped from ``train``.
        """
        native, side = source.native_size, source_pixels(self.source_side, self.resolution)
        if native == self.resolution and (side == ORIGINAL or native <= side):
            return ArrayCropSource.from_arrays(train)
        if side == ORIGINAL:
            return DecodingCropSource(source)
        if self.cache:
            return cached_store(source, side, label, self.cache_dir, self.decode_workers)
        return decode_store(source, side, self.decode_workers, desc=f"decode {label}")


MATERIALIZE_KEYS = (
    "resolution",
    "cache",
    "cache_dir",
    "decode_workers",
    "augmentation",
    "source_side",
)


def materialize_splits(sources: SplitSources, how: Materialize) -> DatasetSplits:
    """Every split through the paper's deterministic view; with ``rrc_flip``, the training split
    also at its source size (``train_aug``), which augmented crops are cut from.
    """
    r = how.resolution
    done: dict[int, ImageArrays] = {}

    def view_of(source: ImageSource, split: str) -> ImageArrays:
        if id(source) not in done:  # val may be the test source itself: decode it once
            label = f"{sources.name}-{split}"
            done[id(source)] = how.arrays(source, eval_view(r, source.native_size), label)
        return done[id(source)]

    splits = DatasetSplits(
        name=sources.name,
        train=view_of(sources.train, "train"),
        test=view_of(sources.test, "test"),
        val=None if sources.val is None else view_of(sources.val, "val"),
    )
    if how.augmentation == "rrc_flip":
        splits.train_aug = how.crop_source(sources.train, splits.train, f"{sources.name}-train")
    return splits


def dataset_builder(index: Indexer) -> Callable[..., DatasetSplits]:
    """Wrap an indexer into a builder: ``index(**kw)`` then decode (cached) at ``resolution``."""

    @functools.wraps(index)
    def build(**kwargs: Any) -> DatasetSplits:
        how = Materialize(**{k: kwargs.pop(k) for k in MATERIALIZE_KEYS if k in kwargs})
        for key in SELECTION_KEYS:  # which runs use an OOD entry is the suite's business
            kwargs.pop(key, None)
        return materialize_splits(index(**kwargs), how)

    build.index = without_materialize_keys(index)  # type: ignore[attr-defined]
    return build


def without_materialize_keys(index: Indexer) -> Indexer:
    """``index`` accepting (and ignoring) the materialisation keys of a config node."""

    @functools.wraps(index)
    def call(**kwargs: Any) -> SplitSources:
        ignored = (*MATERIALIZE_KEYS, *SELECTION_KEYS)
        return index(**{k: v for k, v in kwargs.items() if k not in ignored})

    return call
