"""How far your images are from the backbone's training data: the advisor's fit section.

Per tap, the diversity (Vendi score, effective rank; :mod:`tunnellab.metrics.diversity`) of a
seeded sample of your images, and of an equal-size seeded sample of the backbone's training images
when a tunnellab checkpoint's run config names them; at the recommended tap, precision / recall /
density / coverage of your images against that sample. Both samples go through the same probe
stage (taps, resolution, feature cache) as the probes. A timm / torchvision backbone's training
data is not on the machine: only your images' diversity per tap is measured.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from omegaconf import DictConfig, OmegaConf

from tunnellab.data.arrays import DatasetSplits
from tunnellab.errors import TunnellabError
from tunnellab.metrics.diversity import (
    PRDC_K,
    Prdc,
    effective_rank,
    precision_recall_density_coverage,
    seeded_sample,
    vendi_score,
)
from tunnellab.pipeline import instantiate_dataset
from tunnellab.probe.features import SplitFeatures
from tunnellab.probe.stage import ProbeStage
from tunnellab.run_identity import CHECKPOINT_DIR, IDENTITY, RUN_CONFIG, semantic

#: Per-tap columns of ``layers.csv`` (``train_*``: the training sample, when there is one).
DIVERSITY_COLUMNS = ("vendi", "effective_rank")
#: Data-config keys that only change how training images were stored or augmented, not what the
#: images are: reset when the training sample is loaded.
_RESET = {"augmentation": "none", "cache": False}


@dataclass
class Fit:
    """The fit section's numbers (per-tap diversity lives in the layers table)."""

    recommended_tap: int
    last_tap: int
    n_user: int  # images of yours the diversity and fit were measured on
    training_data: str | None = None  # name of the backbone's training data, when known
    source: str | None = None  # the file that named it
    n_reference: int = 0
    prdc: Prdc | None = None
    note: str = ""  # why there is no fit (no training data known, or it could not be loaded)


def training_data_node(checkpoint: str | Path | None) -> tuple[DictConfig | None, str | None]:
    """The data config a tunnellab checkpoint was pretrained on, and the file that says so.

    Reads the run's ``config.yaml`` beside the checkpoint folder, else the pretraining identity
    ``checkpoints/identity.json``; ``(None, None)`` when neither is there.
    """
    if checkpoint is None:
        return None, None
    ckpt_dir = Path(checkpoint).expanduser().resolve().parent
    run_config = ckpt_dir.parent / RUN_CONFIG
    if run_config.is_file():
        data = (yaml.safe_load(run_config.read_text()) or {}).get("data")
        if isinstance(data, dict) and data.get("_target_"):
            return OmegaConf.create(data), str(run_config)
    identity = ckpt_dir / IDENTITY
    if identity.is_file():
        flat = json.loads(identity.read_text()).get("config") or {}
        data: dict = {}
        for key, value in flat.items():
            if key.startswith("data."):
                *parents, leaf = key.split(".")[1:]
                node = data
                for part in parents:
                    node = node.setdefault(part, {})
                node[leaf] = value
        if data.get("_target_"):
            return OmegaConf.create(data), str(identity)
    return None, None


def reference_sample(
    node: DictConfig, resolution: int, n: int, seed: int
) -> tuple[DatasetSplits, dict]:
    """A seeded sample of ``n`` training images of ``node`` at ``resolution``, and its cache key.

    The sample sits in both splits (``train`` and ``test``), so the stage's features of either
    are the sample's.
    """
    node = OmegaConf.create(OmegaConf.to_container(node, resolve=True))
    node.resolution = int(resolution)
    for key, value in _RESET.items():
        if key in node:
            node[key] = value
    data = instantiate_dataset(node)
    rows = seeded_sample(len(data.train), n, seed)
    sample = data.train.subset(rows)
    key = {"fit_reference": semantic(node), "rows": len(rows), "n_total": len(data.train)}
    return DatasetSplits(name=f"{data.name} sample", train=sample, test=sample), key


def _all_rows(parts: list[SplitFeatures], tap: int, rows: np.ndarray) -> torch.Tensor:
    """Rows ``rows`` of the splits' features at ``tap``, counted across the splits in order."""
    picked, start = [], 0
    for part in parts:
        n = len(part.labels)
        local = rows[(rows >= start) & (rows < start + n)] - start
        picked.append(part.features[tap][torch.as_tensor(local, dtype=torch.long)].float())
        start += n
    return torch.cat(picked)


def _safe(measure, features: torch.Tensor) -> float:
    """A diversity measure, NaN where it is undefined (e.g. all-zero rows under the cosine)."""
    try:
        return float(measure(features))
    except ValueError:
        return float("nan")


def _diversity(features: torch.Tensor) -> dict[str, float]:
    return {
        "vendi": _safe(vendi_score, features),
        "effective_rank": _safe(effective_rank, features),
    }


def measure_fit(
    stage: ProbeStage,
    user: list[SplitFeatures],
    layers: pd.DataFrame,
    recommended_tap: int,
    n_samples: int,
    seed: int,
    reference: tuple[DatasetSplits, dict] | None = None,
) -> Fit:
    """Add per-tap diversity columns to ``layers``; the fit at ``recommended_tap`` when there is a
    ``reference`` sample (from :func:`reference_sample`, sized like the user's sample)."""
    n_user = sum(len(p.labels) for p in user)
    rows = seeded_sample(n_user, n_samples, seed)
    ref_features = stage.features(reference[0], "train", reference[1]) if reference else None
    per_tap: dict[str, list[float]] = {}
    for tap in range(len(stage.taps)):
        mine = _all_rows(user, tap, rows)
        for name, value in _diversity(mine).items():
            per_tap.setdefault(name, []).append(value)
        if ref_features is not None:
            for name, value in _diversity(ref_features.features[tap].float()).items():
                per_tap.setdefault(f"train_{name}", []).append(value)
    for name, values in per_tap.items():
        layers[name] = values
    fit = Fit(recommended_tap=recommended_tap, last_tap=len(stage.taps), n_user=len(rows))
    if ref_features is not None:
        tap = recommended_tap - 1
        fit.n_reference = len(ref_features.labels)
        fit.prdc = precision_recall_density_coverage(
            ref_features.features[tap].float(), _all_rows(user, tap, rows), k=PRDC_K
        )
    return fit


def assess_fit(
    stage: ProbeStage,
    data: DatasetSplits,
    data_key: object,
    layers: pd.DataFrame,
    recommended_tap: int,
    checkpoint: str | Path | None,
    n_samples: int,
    seed: int,
) -> Fit:
    """The fit section for the advisor: the training data from the checkpoint's run config when
    it names one, else your images' diversity alone (with the reason in ``note``)."""
    user = [stage.features(data, split, data_key) for split in ("train", "test")]
    n_user = min(len(data.train) + len(data.test), n_samples)
    node, source = training_data_node(checkpoint)
    reference, note, name = None, "", None
    if node is None:
        note = (
            "no training data is known for these weights (timm / torchvision weights were "
            "trained on data that is not on this machine; random_init weights on none)"
            if checkpoint is None
            else f"no config.yaml or {CHECKPOINT_DIR}/{IDENTITY} beside '{checkpoint}' names "
            "the data it was trained on"
        )
    else:
        name = str(node.get("name", "?"))
        try:
            reference = reference_sample(node, data.train.resolution, n_user, seed)
        except (TunnellabError, OSError) as err:
            note = f"its training data '{name}' (named in {source}) could not be loaded: {err}"
    if reference is not None and min(n_user, len(reference[0].train)) <= PRDC_K:
        note, reference = f"fewer than {PRDC_K + 1} images to compare", None
    fit = measure_fit(stage, user, layers, recommended_tap, n_samples, seed, reference)
    fit.training_data, fit.source, fit.note = name, source, note
    return fit


def _pct(x: float) -> str:
    return f"{100 * x:.0f} %"


def _div(layers: pd.DataFrame, tap: int, prefix: str = "") -> str:
    row = layers[layers["tap_index"] == tap].iloc[0]
    return f"Vendi {row[f'{prefix}vendi']:.1f}, effective rank {row[f'{prefix}effective_rank']:.1f}"


def fit_markdown(fit: Fit, layers: pd.DataFrame) -> list[str]:
    """The "How far is your data" section of advice.md, in plain language with the numbers."""
    rec, last = fit.recommended_tap, fit.last_tap
    lines = ["", "## How far is your data", ""]
    if fit.prdc is not None:
        p = fit.prdc
        lines += [
            f"The backbone was pretrained on `{fit.training_data}` (named in `{fit.source}`); a "
            f"seeded sample of {fit.n_reference} of its training images and {fit.n_user} of "
            f"yours went through the same layers. In the recommended tap's embedding (tap {rec}):",
            "",
            f"- **{_pct(p.precision)} of your images fall inside the region the backbone was "
            f"trained on** (precision: within the {PRDC_K}-nearest-neighbour ball of some "
            f"training image); density {p.density:.2f} (about 1 when your images are as close to "
            "the training images as these are to each other, 0 when nowhere near).",
            f"- Your images reach {_pct(p.coverage)} of the training images' neighbourhoods "
            f"(coverage) and come near {_pct(p.recall)} of the training images (recall): low "
            "values mean your data spans only part of what the backbone saw.",
            f"- Diversity at the recommended tap: yours {_div(layers, rec)}; the training "
            f"sample's {_div(layers, rec, 'train_')}. At the last tap (tap {last}): yours "
            f"{_div(layers, last)}; the training sample's {_div(layers, last, 'train_')}.",
        ]
    else:
        first, final = layers.iloc[0]["vendi"], layers.iloc[-1]["vendi"]
        kept = final / first if first > 0 else float("nan")
        lines += [
            f"**The fit needs the backbone's training data**, and {fit.note}: how far your "
            "images are from it (precision / recall / density / coverage) is not measured.",
            "",
            f"- What can be said: the diversity of your {fit.n_user} images at each layer. "
            f"{_div(layers, 1)} at tap 1; {_div(layers, rec)} at the recommended tap {rec}; "
            f"{_div(layers, last)} at the last tap {last}, where {_pct(kept)} of the first tap's "
            "Vendi score is left (a fall means the later layers map your images onto fewer "
            "distinguishable points).",
        ]
    lines.append(
        "- Vendi score: the effective number of distinct images (cosine similarity); effective "
        "rank: the effective number of feature directions. `layers.csv` has both for every tap."
    )
    return lines
