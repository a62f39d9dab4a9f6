"""The authors' released 512-row results file, with model and datasets rebuilt from its layout.

The file (``data/experiments_results.csv``, MIT, © 2024 the paper's authors) holds the three
metrics and eight variable columns but no model, ID-dataset or OOD-dataset column. Rows come in
64 blocks of 8, one per backbone, with the OOD datasets in a fixed order; the blocks fall into
documented row ranges (docs/protocol.md#released-results-file). This module rebuilds the missing
columns and checks every block against what its range says and what its variable columns say:
the 8 rows of a block must agree, the architecture is recovered from (CNN vs ViT, stem, spatial
reduction, depth), and the over-parameterisation level must equal the model's parameter count
over the ID training-set size. Any disagreement raises :class:`AnalysisError`.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from tunnellab.analysis.table import AnalysisError, finalise

PAPER_CSV = "experiments_results.csv"
BLOCK = 8
N_BLOCKS = 64
#: OOD datasets inside every block, in file order; "CIFAR" is the CIFAR the ID set is not.
OOD_ORDER: tuple[str, ...] = (
    "NINCO",
    "ImageNet-R",
    "CUB",
    "Aircraft",
    "Flowers",
    "CIFAR",
    "Pets",
    "STL-10",
)
COLUMNS = {
    "Pearson Correlation": "pearson",
    "ID OOD Alignment": "alignment",
    "Percentage OOD retained": "retained",
    "Stem": "stem",
    "Spatial Reduction": "spatial_reduction",
    "CNN vs ViT": "cnn_vs_vit_file",
    "Augmentations": "augmentation_level",
    "Resolution": "resolution",
    "ID Class Count": "id_classes",
    "OverParam. Level": "overparam",
    "Depth": "depth",
}
VARIABLE_COLUMNS = tuple(
    v for v in COLUMNS.values() if v not in ("pearson", "alignment", "retained")
)
#: The file's augmentation levels: 0 none, 2 RandomResizedCrop + horizontal flip.
AUGMENTATION_LEVELS = {0: "none", 2: "rrc_flip"}
IMAGENET100_TRAIN = 126_689
CIFAR_TRAIN = 50_000


@dataclass(frozen=True)
class PaperModel:
    """What the variable columns say about one architecture (γ uses the printed counts)."""

    name: str
    family: str  # the file's "CNN vs ViT" value
    stem: int
    spatial_reduction: float
    depth: int
    params_millions: float  # as the paper prints it (two decimals, truncated)


PAPER_MODELS: tuple[PaperModel, ...] = (
    PaperModel("vggm11", "CNN", 3, 0.5, 11, 9.46),
    PaperModel("vggm17", "CNN", 3, 0.5, 17, 20.08),
    PaperModel("vggm11_dagger", "CNN", 3, 1.0, 11, 9.46),
    PaperModel("vggm17_dagger", "CNN", 3, 1.0, 17, 20.08),
    PaperModel("resnet18", "CNN", 7, 0.25, 18, 11.22),
    PaperModel("resnet34", "CNN", 7, 0.25, 34, 21.33),
    PaperModel("vit_t", "Transformer", 8, 1.0, 12, 5.61),
    PaperModel("vit_t_plus", "Transformer", 8, 1.0, 18, 8.39),
)


@dataclass(frozen=True)
class BlockRange:
    """A documented row range: which ID data and which models, resolutions, subsets it holds.

    ``models`` share the range's blocks equally, in this order (each model's blocks together);
    ``subsets`` (classes, samples per class) go in pairs of blocks (no aug, then aug); without
    subsets a model's blocks hold each resolution × augmentation once.
    """

    first_row: int
    last_row: int
    id_dataset: str
    id_classes: int
    train_images: int | None  # None: classes × samples of the block's subset
    models: tuple[str, ...]
    resolutions: tuple[int, ...]
    subsets: tuple[tuple[int, int], ...] = ()


_MAIN6 = ("vggm11", "vggm17", "resnet18", "resnet34", "vit_t", "vit_t_plus")
_VGGM = ("vggm11", "vggm17")
_DAGGER = ("vggm11_dagger", "vggm17_dagger")
LAYOUT: tuple[BlockRange, ...] = (
    BlockRange(0, 191, "ImageNet-100", 100, IMAGENET100_TRAIN, _MAIN6, (32, 224)),
    BlockRange(192, 223, "ImageNet-100", 100, IMAGENET100_TRAIN, _DAGGER, (32,)),
    BlockRange(224, 255, "CIFAR-100", 100, CIFAR_TRAIN, _VGGM, (32,)),
    BlockRange(256, 287, "CIFAR-100", 100, CIFAR_TRAIN, _DAGGER, (32,)),
    BlockRange(288, 319, "CIFAR-10", 10, CIFAR_TRAIN, _VGGM, (32,)),
    BlockRange(
        320,
        415,
        "ImageNet-100",
        100,
        IMAGENET100_TRAIN,
        ("vggm17", "vit_t_plus", "resnet18"),
        (64, 128),
    ),
    BlockRange(
        416,
        511,
        "ImageNet-100",
        100,
        None,
        ("vggm11",),
        (32,),
        subsets=((100, 100), (100, 200), (100, 500), (100, 700), (10, 1000), (50, 200)),
    ),
)
#: Relative tolerance of the check γ × training images = printed parameter count.
OVERPARAM_RTOL = 2e-3


def paper_results_path() -> Path:
    """Where the packaged copy of the released file lives."""
    return Path(str(resources.files("tunnellab.analysis").joinpath("data", PAPER_CSV)))


def identify_model(family: str, stem: float, spatial_reduction: float, depth: float) -> PaperModel:
    """The architecture whose variable columns these are, or raise :class:`AnalysisError`."""
    for model in PAPER_MODELS:
        if (
            model.family == family
            and model.stem == stem
            and np.isclose(model.spatial_reduction, spatial_reduction)
            and model.depth == depth
        ):
            return model
    raise AnalysisError(
        f"No paper architecture has CNN vs ViT={family}, stem={stem}, spatial reduction="
        f"{spatial_reduction}, depth={depth}."
    )


def _range_of(row: int) -> BlockRange:
    for block_range in LAYOUT:
        if block_range.first_row <= row <= block_range.last_row:
            return block_range
    raise AnalysisError(f"Row {row} is outside every documented block range.")  # pragma: no cover


def _ood_names(id_dataset: str) -> list[str]:
    other_cifar = "CIFAR-10" if id_dataset == "CIFAR-100" else "CIFAR-100"
    return [other_cifar if name == "CIFAR" else name for name in OOD_ORDER]


def _block_record(index: int, block: pd.DataFrame) -> dict[str, object]:
    """Model, ID data, resolution, augmentation and subset of one block, checked."""
    first = index * BLOCK
    where = f"block {index} (rows {first}–{first + BLOCK - 1})"
    distinct = block[list(VARIABLE_COLUMNS)].drop_duplicates()
    if len(distinct) != 1:
        raise AnalysisError(f"The 8 rows of {where} disagree on their variable columns.")
    v = distinct.iloc[0]
    try:
        model = identify_model(v["cnn_vs_vit_file"], v["stem"], v["spatial_reduction"], v["depth"])
    except AnalysisError as err:
        raise AnalysisError(f"{where}: {err}") from None
    spec = _range_of(first)
    aug_level = int(v["augmentation_level"])
    if aug_level not in AUGMENTATION_LEVELS:
        raise AnalysisError(f"{where}: augmentation level {aug_level} is not 0 or 2.")
    augmentation = AUGMENTATION_LEVELS[aug_level]
    problems = []
    position = (first - spec.first_row) // BLOCK
    per_model = (spec.last_row - spec.first_row + 1) // BLOCK // len(spec.models)
    expected_model = spec.models[position // per_model]
    if model.name != expected_model:
        problems.append(f"its columns say {model.name}, the layout puts {expected_model} here")
    if int(v["resolution"]) not in spec.resolutions:
        problems.append(f"resolution {v['resolution']} is not one of {spec.resolutions}")
    classes, samples, train_images = spec.id_classes, float("nan"), spec.train_images
    if spec.subsets:
        classes, spc = spec.subsets[position // 2]
        samples, train_images = float(spc), classes * spc
        expected_aug = "none" if position % 2 == 0 else "rrc_flip"
        if augmentation != expected_aug:
            problems.append(f"augmentation {augmentation}, the layout says {expected_aug}")
    if int(v["id_classes"]) != classes:
        problems.append(f"ID class count {v['id_classes']}, the layout says {classes}")
    gamma = model.params_millions * 1e6 / train_images
    if not np.isclose(v["overparam"], gamma, rtol=OVERPARAM_RTOL):
        problems.append(
            f"over-parameterisation {v['overparam']:.4g} ≠ {model.params_millions} M / "
            f"{train_images} images = {gamma:.4g}"
        )
    if problems:
        raise AnalysisError(f"{where} does not match the documented layout: {'; '.join(problems)}.")
    return {
        "model": model.name,
        "id_dataset": spec.id_dataset,
        "id_classes": classes,
        "samples_per_class": samples,
        "id_train_images": train_images,
        "augmentation": augmentation,
    }


def parse_paper_results(raw: pd.DataFrame) -> pd.DataFrame:
    """The released table (as read from CSV) → the tidy table, every block checked."""
    missing = [c for c in COLUMNS if c not in raw.columns]
    if missing:
        raise AnalysisError(f"The paper results file lacks the column(s) {', '.join(missing)}.")
    if len(raw) != BLOCK * N_BLOCKS:
        raise AnalysisError(
            f"The paper results file has {len(raw)} rows; its layout has {BLOCK * N_BLOCKS} "
            f"({N_BLOCKS} backbones × {BLOCK} OOD datasets)."
        )
    data = raw.rename(columns=COLUMNS).reset_index(drop=True)
    records = []
    for index in range(N_BLOCKS):
        block = data.iloc[index * BLOCK : (index + 1) * BLOCK]
        record = _block_record(index, block)
        for name, (_, row) in zip(
            _ood_names(str(record["id_dataset"])), block.iterrows(), strict=True
        ):
            records.append(
                {
                    **record,
                    "paper_row": int(row.name),
                    "paper_block": index,
                    "resolution": int(row["resolution"]),
                    "depth": int(row["depth"]),
                    "stem": int(row["stem"]),
                    "spatial_reduction": float(row["spatial_reduction"]),
                    "overparam": float(row["overparam"]),
                    "seed": float("nan"),
                    "dataset": name,
                    "retained": float(row["retained"]),
                    "pearson": float(row["pearson"]),
                    "alignment": float(row["alignment"]),
                }
            )
    table = finalise(pd.DataFrame(records), source="the paper results file")
    duplicated = table.duplicated(["backbone", "dataset"])
    if duplicated.any():
        twice = table.loc[duplicated, "backbone"].iloc[0]
        raise AnalysisError(f"The layout gives two blocks the same backbone: {twice}.")
    return table


def load_paper_results(path: str | Path | None = None) -> pd.DataFrame:
    """The tidy table of the released results (default: the copy shipped in the package)."""
    path = Path(path) if path is not None else paper_results_path()
    if not path.is_file():
        raise AnalysisError(f"The paper results file was not found at {path}.")
    return parse_paper_results(pd.read_csv(path))
