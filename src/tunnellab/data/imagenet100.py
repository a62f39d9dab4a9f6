"""ImageNet-100 (the CMC class list): build it from ImageNet-1K, and read it as the ID dataset."""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from tunnellab.data.builders import dataset_builder
from tunnellab.data.catalog import dataset_not_found
from tunnellab.data.folders import image_files, scan_class_folders
from tunnellab.data.image_sources import SplitSources
from tunnellab.data.subsets import IdSubset, id_sources
from tunnellab.errors import DatasetNotFoundError

#: images per split of the full ImageNet-100 (CMC classes)
IMAGENET100_TRAIN = 126_689
EXPECTED = {"train": IMAGENET100_TRAIN, "val": 5_000}
SPLITS = ("train", "val")


def read_class_list(path: str | Path | None = None) -> list[str]:
    """WordNet ids, one per line: ``path``, or the packaged CMC list of the paper."""
    if path is None:
        text = files("tunnellab.data").joinpath("resources/imagenet100_cmc.txt").read_text()
    else:
        text = Path(path).expanduser().read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


def index_imagenet100(
    root: str, class_list: str | None = None, name: str = "imagenet100", **subset: Any
) -> SplitSources:
    """``root/{train,val}/<wnid>/``: the first ``classes`` wnids (sorted), ``samples_per_class``
    seeded images each; the test split is every val image of those classes.

    ``subset``: the keys of :class:`IdSubset` (``classes`` defaults to all 100).
    """
    root_path = Path(root).expanduser()
    wnids = sorted(read_class_list(class_list))
    for split in SPLITS:
        folder = root_path / split
        if not folder.is_dir():
            raise dataset_not_found("imagenet100", folder, key="data.root")
        missing = [w for w in wnids if not (folder / w).is_dir()]
        if missing:
            detail = f"{len(missing)} of its {len(wnids)} class folders are missing, e.g. "
            detail += ", ".join(missing[:5])
            raise dataset_not_found("imagenet100", folder, detail=detail, key="data.root")
    train = scan_class_folders(root_path / "train", wnids)
    test = scan_class_folders(root_path / "val", wnids)
    return id_sources(name, train, test, IdSubset(**{"classes": 100, **subset}))


build_imagenet100 = dataset_builder(index_imagenet100)


# ---- tunnellab-prepare imagenet100 ---------------------------------------------------------


@dataclass
class PrepareReport:
    """What ``prepare_imagenet100`` made: images and classes per split, what is missing."""

    out: Path
    images: dict[str, int] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)
    missing: dict[str, list[str]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Every class present in both splits."""
        return not any(self.missing.values())

    @property
    def counts_match(self) -> bool:
        """The paper's 126,689 train / 5,000 val images."""
        return all(self.images.get(s) == n for s, n in EXPECTED.items())

    def lines(self) -> list[str]:
        out = [f"ImageNet-100 in {self.out}"]
        for split in SPLITS:
            n, expected = self.images.get(split, 0), EXPECTED[split]
            verdict = "ok" if n == expected else "MISMATCH"
            out.append(
                f"  {split}: {n:,} images in {self.classes.get(split, 0)} classes "
                f"(expected {expected:,} in 100): {verdict}"
            )
            if self.missing.get(split):
                out.append(f"  missing {split} classes: {' '.join(self.missing[split])}")
        return out


def locate_imagenet(imagenet: Path) -> tuple[Path, Path]:
    """The train and val folders of an ImageNet-1K copy (plain, or Kaggle's ILSVRC layout)."""
    for base in (imagenet, imagenet / "ILSVRC" / "Data" / "CLS-LOC"):
        if (base / "train").is_dir() and (base / "val").is_dir():
            return base / "train", base / "val"
    raise dataset_not_found(
        "imagenet100",
        imagenet,
        detail="no train/ and val/ folders of ImageNet-1K there (nor under ILSVRC/Data/CLS-LOC)",
    )


def read_val_labels(path: Path) -> dict[str, str]:
    """Flat val folder labels: Kaggle's ``LOC_val_solution.csv`` or ``<file> <wnid>`` lines."""
    text = path.read_text()
    if text.startswith("ImageId"):
        rows = csv.DictReader(text.splitlines())
        return {f"{r['ImageId']}.JPEG": r["PredictionString"].split()[0] for r in rows}
    pairs = (line.split()[:2] for line in text.splitlines() if line.strip())
    return {Path(name).name: wnid for name, wnid in pairs}


def _place(src: Path, dst: Path, copy: bool) -> None:
    """Link (or copy) ``src`` to ``dst``; an existing link is replaced, existing data kept."""
    if dst.is_symlink():
        dst.unlink()
    elif dst.exists():
        if copy and src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    if not copy:
        os.symlink(src.resolve(), dst, target_is_directory=src.is_dir())
    elif src.is_dir():
        shutil.copytree(src, dst)
    else:
        shutil.copy2(src, dst)


def _flat_val_labels(imagenet: Path, val_dir: Path, val_labels: Path | None) -> dict[str, str]:
    candidates = [val_labels] if val_labels else []
    candidates += [imagenet / "LOC_val_solution.csv", imagenet.parent / "LOC_val_solution.csv"]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return read_val_labels(candidate)
    raise DatasetNotFoundError(
        f"The ImageNet-1K val folder {val_dir} is flat (no class folders) and no labels were "
        "found for it. Pass --val-labels with Kaggle's LOC_val_solution.csv or a text file of "
        "'<file name> <wnid>' lines, or arrange val/ one folder per class."
    )


def prepare_imagenet100(
    imagenet: str | Path,
    out: str | Path,
    copy: bool = False,
    val_labels: str | Path | None = None,
    class_list: str | Path | None = None,
) -> PrepareReport:
    """Make ``out/{train,val}/<wnid>`` for the 100 classes: links into ImageNet-1K, or copies."""
    imagenet, out = Path(imagenet).expanduser(), Path(out).expanduser()
    train_dir, val_dir = locate_imagenet(imagenet)
    wnids = read_class_list(class_list)
    report = PrepareReport(out=out)
    flat_val = not any((val_dir / w).is_dir() for w in wnids)
    labels = (
        _flat_val_labels(imagenet, val_dir, Path(val_labels) if val_labels else None)
        if flat_val
        else {}
    )
    by_class: dict[str, list[Path]] = {}
    for name, wnid in labels.items():
        by_class.setdefault(wnid, []).append(val_dir / name)
    for split, source_dir in (("train", train_dir), ("val", val_dir)):
        missing = []
        for wnid in tqdm(wnids, desc=f"{'copy' if copy else 'link'} {split}", disable=None):
            if split == "val" and flat_val:
                found = [p for p in by_class.get(wnid, []) if p.is_file()]
                for path in found:
                    _place(path, out / split / wnid / path.name, copy)
                if not found:
                    missing.append(wnid)
            elif (source_dir / wnid).is_dir():
                _place(source_dir / wnid, out / split / wnid, copy)
            else:
                missing.append(wnid)
        report.missing[split] = missing
        present = [w for w in wnids if (out / split / w).is_dir()]
        report.classes[split] = len(present)
        report.images[split] = sum(len(image_files(out / split / w)) for w in present)
    return report
