"""The released results file imports as 64 backbones × 8 OOD datasets with the right names."""

from __future__ import annotations

from collections import Counter

import pandas as pd
import pytest

from tunnellab.analysis.paper_results import (
    OOD_ORDER,
    paper_results_path,
    parse_paper_results,
)
from tunnellab.analysis.table import AnalysisError

PAPER_MODELS = {
    "VGGm-11": 20,  # 4 ImageNet-100 + 2 CIFAR-100 + 2 CIFAR-10 + 12 class/sample subsets
    "VGGm-17": 12,  # 4 + 2 + 2 + 4 at 64² / 128²
    "VGGm†-11": 4,
    "VGGm†-17": 4,
    "ResNet-18": 8,
    "ResNet-34": 4,
    "ViT-T": 4,
    "ViT-T+": 8,
}


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(paper_results_path())


def test_shipped_with_its_licence():
    path = paper_results_path()
    assert path.is_file() and path.parent.name == "data"
    licence = (path.parent / "LICENSE-experiments_results.txt").read_text()
    assert "MIT License" in licence and "Harun" in licence


def test_64_backbones_by_8_ood_datasets(paper_table):
    assert len(paper_table) == 512
    assert paper_table["backbone"].nunique() == 64
    assert (paper_table.groupby("backbone")["dataset"].nunique() == 8).all()
    per_model = Counter(paper_table.drop_duplicates("backbone")["model_label"])
    assert per_model == PAPER_MODELS
    backbones = paper_table.drop_duplicates("backbone")
    assert Counter(backbones["id_dataset"]) == {"ImageNet-100": 52, "CIFAR-100": 8, "CIFAR-10": 4}


def test_ood_order_and_the_other_cifar(paper_table):
    first = paper_table.iloc[:8]
    assert first["dataset"].tolist() == [
        "NINCO", "ImageNet-R", "CUB", "Aircraft", "Flowers", "CIFAR-100", "Pets", "STL-10",
    ]  # fmt: skip
    assert len(OOD_ORDER) == 8
    cifar100 = paper_table[paper_table["id_dataset"] == "CIFAR-100"]
    assert "CIFAR-10" in set(cifar100["dataset"]) and "CIFAR-100" not in set(cifar100["dataset"])
    cifar10 = paper_table[paper_table["id_dataset"] == "CIFAR-10"]
    assert "CIFAR-100" in set(cifar10["dataset"])


@pytest.mark.parametrize(
    ("row", "label", "id_dataset", "resolution", "augmentation", "classes_samples", "dataset"),
    [
        (0, "VGGm-11", "ImageNet-100", 32, "none", "100×all", "NINCO"),
        (31, "VGGm-11", "ImageNet-100", 224, "rrc_flip", "100×all", "STL-10"),
        (64, "ResNet-18", "ImageNet-100", 32, "none", "100×all", "NINCO"),
        (136, "ViT-T", "ImageNet-100", 224, "none", "100×all", "NINCO"),
        (184, "ViT-T+", "ImageNet-100", 224, "rrc_flip", "100×all", "NINCO"),
        (200, "VGGm†-11", "ImageNet-100", 32, "rrc_flip", "100×all", "NINCO"),
        (229, "VGGm-11", "CIFAR-100", 32, "none", "100×all", "CIFAR-10"),
        (296, "VGGm-11", "CIFAR-10", 32, "rrc_flip", "10×all", "NINCO"),
        (352, "ViT-T+", "ImageNet-100", 64, "none", "100×all", "NINCO"),
        (408, "ResNet-18", "ImageNet-100", 128, "rrc_flip", "100×all", "NINCO"),
        (416, "VGGm-11", "ImageNet-100", 32, "none", "100×100", "NINCO"),
        (511, "VGGm-11", "ImageNet-100", 32, "rrc_flip", "50×200", "STL-10"),
    ],
)
def test_rows_land_on_the_documented_backbones(
    paper_table, raw, row, label, id_dataset, resolution, augmentation, classes_samples, dataset
):
    r = paper_table.iloc[row]
    assert r["paper_row"] == row
    assert (r["model_label"], r["id_dataset"], r["resolution"]) == (label, id_dataset, resolution)
    assert (r["augmentation"], r["classes_samples"], r["dataset"]) == (
        augmentation,
        classes_samples,
        dataset,
    )
    assert r["retained"] == raw.loc[row, "Percentage OOD retained"]
    assert r["pearson"] == raw.loc[row, "Pearson Correlation"]
    assert r["alignment"] == raw.loc[row, "ID OOD Alignment"]


def test_cnn_vs_vit_and_derived_columns(paper_table, raw):
    assert (
        paper_table["cnn_vs_vit"] == raw["CNN vs ViT"].map({"CNN": "CNN", "Transformer": "ViT"})
    ).all()
    subsets = paper_table[paper_table["samples_per_class"].notna()]
    assert set(subsets["paper_block"]) == set(range(52, 64))
    assert (
        subsets["id_train_images"] == subsets["id_classes"] * subsets["samples_per_class"]
    ).all()


def _corrupt(raw: pd.DataFrame, rows, column: str, value) -> pd.DataFrame:
    bad = raw.copy()
    bad.loc[rows, column] = value
    return bad


@pytest.mark.parametrize(
    ("rows", "column", "value", "message"),
    [
        ([3], "Depth", 17, "disagree"),
        (list(range(0, 8)), "Depth", 13, "No paper architecture"),
        (list(range(128, 136)), "Resolution", 64, "resolution 64"),
        (list(range(224, 232)), "OverParam. Level", 74.67104484, "over-parameterisation"),
        (list(range(416, 424)), "Augmentations", 2, "augmentation"),
        (list(range(288, 296)), "ID Class Count", 100, "ID class count"),
        (list(range(0, 8)), "Augmentations", 1, "not 0 or 2"),
    ],
)
def test_inconsistent_blocks_raise(raw, rows, column, value, message):
    with pytest.raises(AnalysisError, match=message):
        parse_paper_results(_corrupt(raw, rows, column, value))


def test_moved_blocks_and_missing_rows_raise(raw):
    swapped = raw.copy()
    swapped.iloc[0:8] = raw.iloc[64:72].to_numpy()  # a ResNet-18 block where VGGm-11 belongs
    swapped.iloc[64:72] = raw.iloc[0:8].to_numpy()
    with pytest.raises(AnalysisError, match="say resnet18, the layout puts vggm11"):
        parse_paper_results(swapped)
    duplicated = raw.copy()
    duplicated.iloc[8:16] = raw.iloc[0:8].to_numpy()
    with pytest.raises(AnalysisError, match="same backbone"):
        parse_paper_results(duplicated)
    with pytest.raises(AnalysisError, match="512"):
        parse_paper_results(raw.iloc[:-1])
    with pytest.raises(AnalysisError, match="lacks"):
        parse_paper_results(raw.drop(columns=["Depth"]))
