"""CUB-200-2011 from its official archive layout (the split the dataset ships with)."""

from __future__ import annotations

from pathlib import Path

from tunnellab.data.builders import dataset_builder
from tunnellab.data.catalog import dataset_not_found
from tunnellab.data.image_sources import FileSource, SplitSources

LISTS = ("images.txt", "image_class_labels.txt", "train_test_split.txt")
CONFIG_KEY = "ood.datasets.cub.root"


def _id_table(path: Path) -> dict[int, str]:
    """``<id> <value>`` lines → {id: value}."""
    table = {}
    for line in path.read_text().splitlines():
        if line.strip():
            key, value = line.split(maxsplit=1)
            table[int(key)] = value.strip()
    return table


def index_cub(root: str) -> SplitSources:
    """200 bird species: 5,994 train / 5,794 test (``train_test_split.txt``)."""
    root_path = Path(root).expanduser()
    missing = [name for name in LISTS if not (root_path / name).is_file()]
    if missing:
        detail = f"missing {', '.join(missing)}"
        raise dataset_not_found("cub", root_path, detail=detail, key=CONFIG_KEY)
    images, labels, is_train = (_id_table(root_path / name) for name in LISTS)
    if (root_path / "classes.txt").is_file():
        table = _id_table(root_path / "classes.txt")
        classes = [table[k] for k in sorted(table)]
    else:  # the class folder names carry the same names
        by_label = {int(labels[i]): images[i].split("/")[0] for i in images}
        classes = [by_label[k] for k in sorted(by_label)]
    splits: dict[bool, tuple[list[Path], list[int]]] = {True: ([], []), False: ([], [])}
    for image_id in sorted(images):
        paths, split_labels = splits[is_train[image_id] == "1"]
        paths.append(root_path / "images" / images[image_id])
        split_labels.append(int(labels[image_id]) - 1)
    train, test = (FileSource(*splits[side], classes) for side in (True, False))
    absent = train.missing_files()[:1] or test.missing_files()[:1]
    if absent:
        detail = f"{absent[0]} is listed in images.txt but absent"
        raise dataset_not_found("cub", root_path, detail=detail, key=CONFIG_KEY)
    return SplitSources(name="cub", train=train, test=test)


build_cub = dataset_builder(index_cub)
