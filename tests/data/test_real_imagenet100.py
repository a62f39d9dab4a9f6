"""ImageNet-100: ``tunnellab-prepare imagenet100`` from ImageNet-1K, then ``data=imagenet100``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunnellab.cli.prepare import main as prepare
from tunnellab.config import compose_config
from tunnellab.data.imagenet100 import read_class_list
from tunnellab.errors import DatasetNotFoundError
from tunnellab.pipeline import instantiate_dataset
from tunnellab.result_tables import run_variables
from tunnellab.tools.fakes import write_image_folder

WNIDS = read_class_list()


@pytest.fixture(scope="module")
def imagenet(tmp_path_factory):
    """A tiny ImageNet-1K: the 100 CMC classes (3 train / 1 val images each) and 2 others."""
    root = tmp_path_factory.mktemp("in1k")
    others = ["n00000001", "n00000002"]
    write_image_folder(root / "train", [*WNIDS, *others], 3, size=(20, 16), jitter=2)
    write_image_folder(root / "val", [*WNIDS, *others], 1, size=(20, 16), jitter=2)
    return root


def test_the_cmc_list_ships_with_the_package():
    assert len(WNIDS) == len(set(WNIDS)) == 100
    assert all(w.startswith("n") and len(w) == 9 for w in WNIDS)


def test_prepare_links_the_100_classes_and_reports_the_counts(imagenet, tmp_path, capsys):
    out = tmp_path / "imagenet100"
    code = prepare(["imagenet100", "--imagenet", str(imagenet), "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 1  # complete, but not the paper's 126,689 / 5,000 images
    assert "train: 300 images in 100 classes (expected 126,689 in 100)" in printed.out
    assert "126,689 / 5,000" in printed.err
    assert sorted(p.name for p in (out / "train").iterdir()) == sorted(WNIDS)
    assert all((out / "train" / w).is_symlink() for w in WNIDS)


def test_prepare_copies_and_reads_a_flat_val_folder(imagenet, tmp_path):
    flat = tmp_path / "in1k_flat"
    (flat / "val").mkdir(parents=True)
    (flat / "train").symlink_to(imagenet / "train")
    lines = ["ImageId,PredictionString"]
    for i, wnid in enumerate(WNIDS[:100]):
        src = next((imagenet / "val" / wnid).iterdir())
        (flat / "val" / f"ILSVRC2012_val_{i:08d}.JPEG").write_bytes(src.read_bytes())
        lines.append(f"ILSVRC2012_val_{i:08d},{wnid} 1 2 3 4")
    (flat / "LOC_val_solution.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "copied"
    assert prepare(["imagenet100", "--imagenet", str(flat), "--out", str(out), "--copy"]) == 1
    assert not (out / "train" / WNIDS[0]).is_symlink()
    assert len(list((out / "val" / WNIDS[5]).iterdir())) == 1


def test_prepare_names_missing_classes(tmp_path, capsys):
    partial = tmp_path / "partial"
    write_image_folder(partial / "train", WNIDS[:97], 1, size=(8, 8), jitter=0)
    write_image_folder(partial / "val", WNIDS[:97], 1, size=(8, 8), jitter=0)
    assert prepare(["imagenet100", "--imagenet", str(partial), "--out", str(tmp_path / "o")]) == 2
    out = capsys.readouterr().out
    assert all(w in out for w in WNIDS[97:])
    assert prepare(["imagenet100", "--imagenet", str(tmp_path / "nowhere"), "--out", "x"]) == 2


def test_imagenet100_subsets_through_the_config(imagenet, tmp_path, monkeypatch):
    monkeypatch.setenv("TUNNELLAB_CACHE", str(tmp_path / "cache"))
    prepare(["imagenet100", "--imagenet", str(imagenet), "--out", str(tmp_path / "imagenet100")])

    def build(*overrides):
        cfg = compose_config(["data=imagenet100", f"paths.data_dir={tmp_path}", *overrides])
        return instantiate_dataset(cfg.data)

    subset = ["data.classes=10", "data.samples_per_class=2", "data.resolution=16"]
    a, b = build(*subset), build(*subset)
    assert a.sizes() == {"train": 20, "val": 10, "test": 10}
    assert a.train.classes == sorted(WNIDS)[:10]  # the first 10 wnids in sorted order
    assert np.bincount(a.train.labels.numpy()).tolist() == [2] * 10
    assert torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.train.images, build(*subset, "data.seed=5").train.images)
    full = build("data.resolution=16")
    assert full.sizes()["train"] == 300 and full.n_classes == 100


@pytest.mark.parametrize(
    ("overrides", "classes", "held_per_class"),
    [
        ([], 100, 0),  # the full set: 126,689 images with the real ImageNet-100
        (["data.classes=50"], 50, 0),  # no size in the config alone: counted
        (["data.classes=10", "data.samples_per_class=2"], 10, 0),
        (["data.val_split=holdout", "data.val_per_class=1"], 100, 1),
    ],
)
def test_overparameterisation_counts_the_loaded_training_split(
    imagenet, tmp_path, monkeypatch, overrides, classes, held_per_class
):
    monkeypatch.setenv("TUNNELLAB_CACHE", str(tmp_path / "cache"))
    prepare(["imagenet100", "--imagenet", str(imagenet), "--out", str(tmp_path / "imagenet100")])
    cfg = compose_config(
        ["data=imagenet100", f"paths.data_dir={tmp_path}", "data.resolution=16", *overrides]
    )
    splits = instantiate_dataset(cfg.data)
    first = sorted(WNIDS)[:classes]
    files = sum(len(list((imagenet / "train" / w).iterdir())) for w in first)
    per_class = cfg.data.samples_per_class
    trained = classes * per_class if per_class else files - classes * held_per_class
    assert len(splits.train) == trained
    variables = run_variables(cfg, {}, n_params=600, train_images=len(splits.train))
    assert variables["overparam"] == 600 / trained


def test_a_missing_class_folder_is_explained(imagenet, tmp_path):
    root = tmp_path / "imagenet100"
    prepare(["imagenet100", "--imagenet", str(imagenet), "--out", str(root)])
    (root / "val" / WNIDS[3]).unlink()
    cfg = compose_config(["data=imagenet100", f"paths.data_dir={tmp_path}"])
    with pytest.raises(DatasetNotFoundError, match=f"class folders are missing, e.g. {WNIDS[3]}"):
        instantiate_dataset(cfg.data)
