"""Class-per-folder datasets: any image folder (ID or OOD), NINCO and ImageNet-R.

Folders are walked following links, but no file is counted twice (a link to a file already
found is skipped) and no folder is walked twice (a link back to a parent does not loop).
Which odd files convert and which are skipped: :mod:`tunnellab.data.imagefiles`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from tunnellab.data.builders import dataset_builder
from tunnellab.data.catalog import dataset_not_found
from tunnellab.data.image_sources import FileSource, SplitSources
from tunnellab.data.imagefiles import problem_of, skipped_summary
from tunnellab.data.splits import fixed_split, stratified_holdout
from tunnellab.data.subsets import IdSubset, id_sources
from tunnellab.errors import DatasetNotFoundError

log = logging.getLogger("tunnellab")

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
)


def class_dirs(root: Path) -> list[Path]:
    """The class folders of ``root``, sorted by name (hidden folders skipped)."""
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def image_files(folder: Path) -> list[Path]:
    """Every image under ``folder`` (recursively, following links), sorted by relative path.

    A link back to the folder itself or to one above it (a loop) is not followed, and a folder
    reached twice (two links to it) is walked once.
    """
    return list(_image_files_with_real_paths(folder))


def _image_files_with_real_paths(folder: Path) -> dict[Path, str]:
    """:func:`image_files` → each file's real path (links resolved), in the same order."""
    top = os.fspath(folder)
    found: dict[str, str] = {}  # path relative to ``folder`` → real path
    walked: set[str] = set()
    pending = [("", os.path.realpath(top))]
    while pending:
        relative, real_here = pending.pop()
        if real_here in walked:
            continue
        walked.add(real_here)
        with os.scandir(os.path.join(top, relative)) as entries:
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                rel = f"{relative}/{entry.name}" if relative else entry.name
                if entry.is_dir():  # follows links
                    target = os.path.realpath(entry.path)
                    if not _is_loop(real_here, target):
                        pending.append((rel, target))
                elif os.path.splitext(entry.name)[1].lower() in IMAGE_EXTENSIONS:
                    direct = f"{real_here}/{entry.name}"
                    found[rel] = os.path.realpath(entry.path) if entry.is_symlink() else direct
    return {Path(folder, rel): found[rel] for rel in sorted(found)}


def _is_loop(here: str, target: str) -> bool:
    """Whether a link from real folder ``here`` to real folder ``target`` leads back up."""
    return here == target or here.startswith(target.rstrip(os.sep) + os.sep)


DUPLICATE = "duplicate (another link to a file already taken)"


class FileIndex:
    """Files found so far: the same file (by its real path) is only taken once."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def take(self, real: str) -> bool:
        """Take the file at real path ``real``; False when it was taken already."""
        if real in self.seen:
            return False
        self.seen.add(real)
        return True


def checked_image_files(
    folder: Path, check: bool = True, index: FileIndex | None = None
) -> tuple[list[Path], dict[Path, str]]:
    """(usable, skipped → reason) image files under ``folder``, sorted by relative path.

    A file reached twice (here, or in an earlier folder of ``index``) is taken once: the path
    without links wins over a link to it. ``check=False`` skips only those duplicates.
    """
    index = index or FileIndex()
    real = _image_files_with_real_paths(folder)
    files = list(real)
    linked = {p: real[p] != os.path.abspath(p) for p in files}
    problems: dict[Path, str | None] = {}
    for path in sorted(files, key=linked.__getitem__):  # stable: sorted within each kind
        problems[path] = None if index.take(real[path]) else DUPLICATE
        if problems[path] is None and check:
            problems[path] = problem_of(path)
    good = [p for p in files if problems[p] is None]
    return good, {p: problems[p] for p in files if problems[p] is not None}


def readable_image_files(folder: Path) -> tuple[list[Path], dict[Path, str]]:
    """(readable, unreadable → reason) image files under ``folder``."""
    return checked_image_files(folder)


def scan_class_folders(
    root: Path, classes: list[str] | None = None, check_readable: bool = False
) -> FileSource:
    """``root/<class>/<image>`` → a source labelled by sorted class name.

    With ``classes`` given, exactly those folders are read, in that order (the caller checks
    that they exist). A file reached twice through links is taken once. With ``check_readable``,
    files that are not usable images (empty, not an image, corrupt, too large: see
    :func:`~tunnellab.data.imagefiles.problem_of`) are skipped, kept with their reason in
    ``source.skipped`` and named in a warning, and a class left without images is an error.
    """
    folders = class_dirs(root) if classes is None else [root / c for c in classes]
    paths: list[Path] = []
    labels: list[int] = []
    skipped: dict[Path, str] = {}
    index = FileIndex()
    for label, folder in enumerate(folders):
        files, bad = checked_image_files(folder, check_readable, index)
        skipped.update(bad)
        if check_readable and not files:
            summary = skipped_summary([(str(p), r) for p, r in bad.items()], len(bad))
            raise DatasetNotFoundError(
                f"The class folder {folder} holds no usable image ({summary}). Every class "
                f"folder under {root} needs at least one image ("
                + ", ".join(sorted(IMAGE_EXTENSIONS))
                + "); remove or fill the empty class."
            )
        paths += files
        labels += [label] * len(files)
    if skipped:
        total = len(paths) + len(skipped)
        pairs = [(str(p), r) for p, r in skipped.items()]
        log.warning("%s: %s", root, skipped_summary(pairs, total))
    source = FileSource(paths, labels, [f.name for f in folders])
    source.skipped = skipped
    return source


def _scan_or_explain(
    root: Path, catalog_key: str, config_key: str, check_readable: bool = False
) -> FileSource:
    if not root.is_dir():
        raise dataset_not_found(catalog_key, root, key=config_key)
    source = scan_class_folders(root, check_readable=check_readable)
    if len(source) == 0:
        raise dataset_not_found(
            catalog_key,
            root,
            detail="the folder holds no class folders with images",
            key=config_key,
        )
    return source


def _relabel(source: FileSource, classes: list[str], root: Path) -> FileSource:
    """``source`` labelled in the order of ``classes`` (a test folder read against train's)."""
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted(set(source.classes) - set(index))
    if unknown:
        raise DatasetNotFoundError(
            f"The test folder {root} has classes the training folder lacks: {', '.join(unknown)}. "
            "Both must use the same class folder names."
        )
    labels = [index[source.classes[label]] for label in source.labels]
    return FileSource(source.paths, labels, classes)


def folder_splits(
    path: str | Path,
    train_dir: str | None,
    test_dir: str | None,
    test_fraction: float,
    seed: int,
    config_key: str,
) -> tuple[FileSource, FileSource]:
    """(train, test) of a class-per-folder tree, with or without train/test subfolders.

    ``path/<train_dir>`` (if present) holds the training classes, else ``path`` itself does;
    ``path/<test_dir>`` (if present) is the test split, else a seeded stratified
    ``test_fraction`` of the training images is.
    """
    path = Path(path).expanduser()
    train_root = path / train_dir if train_dir and (path / train_dir).is_dir() else path
    train = _scan_or_explain(train_root, "imagefolder", config_key, check_readable=True)
    test_root = path / test_dir if test_dir else None
    if test_root is not None and test_root.is_dir() and train_root != path:
        test = scan_class_folders(test_root, check_readable=True)
        return train, _relabel(test, train.classes, test_root)
    where = f"The image folder {train_root}"
    kept, held = stratified_holdout(train.labels, test_fraction, seed, where, train.classes)
    return train.select(kept), train.select(held)


def index_imagefolder(
    path: str,
    train_dir: str | None = "train",
    test_dir: str | None = "test",
    test_fraction: float = 0.2,
    seed: int = 0,
    name: str = "imagefolder",
    test_path: str | None = None,
) -> SplitSources:
    """An OOD dataset from any class-per-folder tree (``test_path``: a separate test tree)."""
    if test_path is None:
        train, test = folder_splits(path, train_dir, test_dir, test_fraction, seed, "its path")
        return SplitSources(name=name, train=train, test=test)
    train = _scan_or_explain(Path(path).expanduser(), "imagefolder", "its path", True)
    test_root = Path(test_path).expanduser()
    test = _scan_or_explain(test_root, "imagefolder", "its test_path", True)
    return SplitSources(name=name, train=train, test=_relabel(test, train.classes, test_root))


def index_imagefolder_id(
    path: str,
    train_dir: str | None = "train",
    test_dir: str | None = "test",
    test_fraction: float = 0.2,
    name: str = "imagefolder",
    **subset: Any,
) -> SplitSources:
    """An ID dataset from any class-per-folder tree (first ``classes`` classes, sorted);
    ``subset``: the keys of :class:`IdSubset`."""
    how = IdSubset(**subset)
    train, test = folder_splits(path, train_dir, test_dir, test_fraction, how.seed, "data.path")
    if how.classes < len(train.classes):
        log.info("%s: using the first %d of %d classes", name, how.classes, len(train.classes))
    return id_sources(name, train, test, how)


def index_ninco(root: str, test_fraction: float = 0.2, seed: int = 0) -> SplitSources:
    """NINCO's 64 OOD classes with a seeded stratified 80/20 split."""
    source = _scan_or_explain(Path(root).expanduser(), "ninco", "ood.datasets.ninco.root")
    train, test = stratified_holdout(source.labels, test_fraction, seed)
    return SplitSources(name="ninco", train=source.select(train), test=source.select(test))


def index_imagenet_r(
    root: str, split_file: str | None = None, test_fraction: float = 0.2, seed: int = 0
) -> SplitSources:
    """ImageNet-R's 200 classes with a fixed 80/20 split saved beside the data on first use."""
    root_path = Path(root).expanduser()
    source = _scan_or_explain(root_path, "imagenet_r", "ood.datasets.imagenet_r.root")
    split_path = (
        Path(split_file).expanduser()
        if split_file
        else root_path.with_name(f"{root_path.name}_split.tsv")
    )
    train, test = fixed_split(source, root_path, split_path, test_fraction, seed)
    return SplitSources(name="imagenet_r", train=source.select(train), test=source.select(test))


build_imagefolder = dataset_builder(index_imagefolder)
build_imagefolder_id = dataset_builder(index_imagefolder_id)
build_ninco = dataset_builder(index_ninco)
build_imagenet_r = dataset_builder(index_imagenet_r)
