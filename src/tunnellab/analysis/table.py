"""The tidy table every analysis source becomes: one row per backbone × OOD dataset.

Columns (the run variables of :mod:`tunnellab.variables`, plus what the analysis derives):

- identity: ``backbone`` (one label per pretrained backbone), ``run_id``, ``model`` (registry
  name), ``model_label`` (the paper's name), ``arch`` (VGGm, VGGm†, ResNet, ViT), ``cnn_vs_vit``;
- run variables: ``resolution, augmentation, id_dataset, id_classes, samples_per_class, seed,
  depth, stem, spatial_reduction, overparam``; ``samples_per_class`` is NaN when the backbone
  used the whole ID training set (the paper's full ImageNet-100 / CIFAR models);
- ``classes_samples``: ``"<classes>×<samples per class>"`` (``"100×all"`` for a full set);
- ``dataset`` (the OOD dataset) and the metrics ``retained`` (%), ``pearson``, ``alignment``.

Optional columns kept when a source has them: ``tunnel_start, strength, id_accuracy, width,
taps_kind, accuracy, id_train_images, n_classes``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from tunnellab.errors import TunnellabError
from tunnellab.variables import variable_names

METRICS: tuple[str, ...] = ("retained", "pearson", "alignment")
METRIC_LABELS: dict[str, str] = {
    "retained": "% OOD retained",
    "pearson": "Pearson ρ (ID vs OOD curve)",
    "alignment": "ID/OOD alignment A",
}
#: The run variables every source has (see :mod:`tunnellab.variables`).
RUN_VARIABLES: tuple[str, ...] = variable_names(analysis="required")
DERIVED: tuple[str, ...] = ("backbone", "model_label", "arch", "cnn_vs_vit", "classes_samples")
REQUIRED: tuple[str, ...] = (*RUN_VARIABLES, "dataset", *METRICS)
#: Columns that, when present, also tell runs apart (never compared, always matched on).
CONTEXT: tuple[str, ...] = (*variable_names(analysis="context"), "accuracy")
OPTIONAL: tuple[str, ...] = (
    "run_id",
    "tunnel_start",
    "strength",
    "id_accuracy",
    "id_train_images",
    "n_classes",
    *CONTEXT,
)

MODEL_LABELS: dict[str, str] = {
    "vggm11": "VGGm-11",
    "vggm17": "VGGm-17",
    "vggm11_dagger": "VGGm†-11",
    "vggm17_dagger": "VGGm†-17",
    "resnet18": "ResNet-18",
    "resnet34": "ResNet-34",
    "vit_t": "ViT-T",
    "vit_t_plus": "ViT-T+",
}
#: Model order of the paper's tables (unknown models sort after these, by name).
MODEL_ORDER: tuple[str, ...] = tuple(MODEL_LABELS)
NO_AUGMENTATION = "none"


class AnalysisError(TunnellabError, ValueError):
    """Input an analysis cannot use (a bad source, a malformed results file, no rows)."""


def model_label(model: str) -> str:
    """The paper's name of a registry model name (unknown names are returned unchanged)."""
    return MODEL_LABELS.get(str(model), str(model))


def arch_of(model: str) -> str:
    """Architecture family of a model name: VGGm, VGGm† (no early pools), ResNet or ViT."""
    name = str(model).lower()
    if name.startswith("vggm"):
        return "VGGm†" if "dagger" in name else "VGGm"
    if name.startswith("resnet"):
        return "ResNet"
    if name.startswith("vit"):
        return "ViT"
    return str(model)


def cnn_vs_vit(arch: str) -> str:
    """``ViT`` for vision transformers, ``CNN`` for everything else."""
    return "ViT" if arch == "ViT" else "CNN"


def classes_samples_label(classes: float, samples: float) -> str:
    """``"100×200"``; a NaN sample count (the whole training set) reads ``"100×all"``."""
    s = (
        "all"
        if samples is None or (isinstance(samples, float) and math.isnan(samples))
        else samples
    )
    return f"{int(classes)}×{s if s == 'all' else int(s)}"


def backbone_label(row: pd.Series) -> str:
    """A readable label of a backbone: model · ID data · resolution · augmentation (· subset)."""
    aug = "aug" if row["augmentation"] != NO_AUGMENTATION else "no aug"
    label = f"{row['model_label']} · {row['id_dataset']} · {int(row['resolution'])}² · {aug}"
    if not pd.isna(row["samples_per_class"]):
        label += f" · {row['classes_samples']}"
    if "seed" in row and not pd.isna(row["seed"]):
        label += f" · seed {int(row['seed'])}"
    return label


def finalise(table: pd.DataFrame, source: str = "") -> pd.DataFrame:
    """Check the required columns, add the derived ones and return a clean copy.

    ``backbone`` defaults to ``run_id`` when the source has one, else to a readable label built
    from the run variables. Raises :class:`AnalysisError` naming missing columns or empty input.
    """
    where = f" from {source}" if source else ""
    if table.empty:
        raise AnalysisError(f"No result rows{where}: nothing to analyse.")
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise AnalysisError(
            f"The results{where} lack the column(s) {', '.join(missing)}; every row needs "
            f"{', '.join(REQUIRED)} (the columns of a run's tunnel_metrics.csv)."
        )
    out = table.copy().reset_index(drop=True)
    for column in ("resolution", "id_classes", "depth", "stem", "seed"):
        out[column] = pd.to_numeric(out[column], errors="coerce")
    for column in ("spatial_reduction", "overparam", "samples_per_class", *METRICS):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype(float)
    out["model"] = out["model"].astype(str)
    out["augmentation"] = out["augmentation"].astype(str)
    out["id_dataset"] = out["id_dataset"].astype(str)
    out["dataset"] = out["dataset"].astype(str)
    out["model_label"] = out["model"].map(model_label)
    out["arch"] = out["model"].map(arch_of)
    out["cnn_vs_vit"] = out["arch"].map(cnn_vs_vit)
    out["classes_samples"] = [
        classes_samples_label(c, s)
        for c, s in zip(out["id_classes"], out["samples_per_class"], strict=True)
    ]
    if "backbone" not in out.columns:
        if "run_id" in out.columns and out["run_id"].notna().all():
            out["backbone"] = out["run_id"].astype(str)
        else:
            out["backbone"] = out.apply(backbone_label, axis=1)
    keep = [c for c in (*DERIVED, *REQUIRED, *OPTIONAL) if c in out.columns]
    rest = [c for c in out.columns if c not in keep]
    return out[keep + rest]


def model_sort_key(model: str) -> tuple[int, str]:
    """Sort models in the paper's order, unknown ones after, by name."""
    return (MODEL_ORDER.index(model), "") if model in MODEL_ORDER else (len(MODEL_ORDER), model)


def natural_key(value: object) -> tuple:
    """Sort key that orders numbers numerically and ``"10×1000" < "100×100" < "100×all"``."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return ((0, float(value), ""),)
    text = str(value)
    chunks: list[tuple[int, float, str]] = []
    number = ""
    word = ""
    for ch in text:
        if ch.isdigit() or (ch == "." and number):
            if word:
                chunks.append((1, 0.0, word))
                word = ""
            number += ch
        else:
            if number:
                chunks.append((0, float(number), ""))
                number = ""
            word += ch
    if number:
        chunks.append((0, float(number), ""))
    if word:
        chunks.append((1, 0.0, word))
    return tuple(chunks)


def level_text(level: object) -> str:
    """A variable level as text: numbers without trailing zeros (158.5, 32, 0.25)."""
    if isinstance(level, (int, float, np.integer, np.floating)) and not isinstance(level, bool):
        return format(float(level), "g")
    return str(level)


def sorted_levels(values: Iterable[object]) -> list[object]:
    """Distinct non-missing values in natural order."""
    distinct = {v for v in values if not (isinstance(v, float) and math.isnan(v))}
    return sorted(distinct, key=natural_key)


def backbones(table: pd.DataFrame) -> pd.DataFrame:
    """One row per backbone with its run variables (the first OOD row's values)."""
    columns = [c for c in (*DERIVED, *RUN_VARIABLES) if c in table.columns]
    return table.drop_duplicates("backbone")[columns].reset_index(drop=True)
