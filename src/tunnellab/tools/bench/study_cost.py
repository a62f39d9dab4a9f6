"""GPU-hours of each paper study, from measured rates and each job's composed config.

A study (``conf/experiment/paper/<study>.yaml``) expands to its sweep's jobs; each job is composed
as ``tunnellab-run`` would compose it, and costs

- pretraining: ID training images × epochs / pretraining img/s (at the job's trainer precision);
- validation: validation images × epochs / forward img/s (one pass per epoch);
- extraction: every image probed (ID and OOD, train and test) once / forward img/s;
- probes: probe-train images × probe epochs × head banks × seconds per sample-epoch of all taps.

Rates are measured for a few models at a few resolutions (``make gpu-check``); :func:`job_rates`
fills the rest: between measured resolutions the rate is interpolated linearly in
log(rate) against log(pixels) (extrapolated from the two nearest outside them; with one
resolution, rate ∝ 1 / pixels), and a model that was not measured takes its measured sibling's
rate scaled by their forward FLOPs (heads: by their summed feature widths). Everything assumed is
listed by :data:`ASSUMPTIONS`, which ``gpu.json`` carries.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from omegaconf import DictConfig

#: (probe-train, probe-test) images of each OOD entry of ``ood=paper8`` (docs/datasets.md).
OOD_SIZES: dict[str, tuple[int, int]] = {
    "ninco": (4_702, 1_176),
    "imagenet_r": (24_000, 6_000),
    "cub": (5_994, 5_794),
    "aircraft": (6_667, 3_333),
    "flowers": (1_020, 1_020),  # test_split: val (the released code's); test has 6,149
    "flowers_test": (1_020, 6_149),
    "cifar100": (50_000, 10_000),
    "cifar10": (50_000, 10_000),
    "pets": (3_680, 3_669),
    "stl10": (5_000, 8_000),
}
#: Test images per class of the ID datasets (ImageNet-100: its 50 val images per class).
ID_TEST_PER_CLASS = {"imagenet100": 50, "cifar10": 1_000, "cifar100": 100}
#: The paper models whose rates are measured, and the sibling each other paper model scales from.
SIBLINGS: dict[str, str] = {
    "vggm11": "vggm11",
    "vggm17": "vggm11",
    "vggm11_dagger": "vggm11",
    "vggm17_dagger": "vggm11",
    "resnet18": "resnet18",
    "resnet34": "resnet18",
    "vit_t": "vit_t",
    "vit_t_plus": "vit_t",
}
#: The paper studies (``conf/experiment/paper/*.yaml``) in the order of experiments/README.md.
PAPER_STUDIES: tuple[str, ...] = (
    "main_grid",
    "architecture",
    "stem",
    "resolution",
    "augmentation",
    "spatial_reduction",
    "id_dataset",
    "class_count",
    "samples_per_class",
    "imagenet1k",
)
#: Head banks per probed dataset in the paper studies: one trained on the whole probe-train split
#: (acc_best, the paper's protocol) and one on its 90/10 split (acc_selected).
PAPER_HEAD_BANKS = 2
ASSUMPTIONS: tuple[str, ...] = (
    "one GPU per job, jobs one after another; no data-loading stalls (the decode-once cache "
    "feeds faster than the GPU trains, see docs/datasets.md)",
    "pretraining rate at the job's trainer precision (bf16-mixed or fp32), measured without "
    "augmentation (crop and flip add little on the GPU)",
    "validation and extraction at the extraction rate (bf16 autocast forward, all taps hooked)",
    "probes: head time per probe-train sample and epoch as measured at 100 classes, for every "
    "dataset; test evaluation each epoch included; paper studies train 2 head banks (the whole "
    "probe-train split for acc_best, and the 90/10 split for acc_selected)",
    "rates between measured resolutions: linear in log(rate) vs log(pixels); unmeasured models: "
    "their sibling's rate (VGGm-11, ResNet-18, ViT-T) scaled by forward FLOPs; heads scaled by "
    "summed feature width",
    "not counted: job start-up, checkpoint writes, feature-cache writes, W&B",
    "probe-only studies of public backbones (imagenet1k) are not estimated: their rates are "
    "not measured",
)


@dataclass(frozen=True)
class StudyJob:
    """What one job of a study trains and probes (from its composed config)."""

    study: str
    model: str
    resolution: int
    precision: str  # "bf16" or "fp32": the trainer precision of pretraining
    epochs: int  # pretraining epochs (0: probe only)
    train_images: int  # ID training images per epoch
    val_images: int  # validation images per epoch
    extract_images: int  # every image extracted once (ID + OOD, train + test)
    probe_train_images: int  # probe-train images over the ID and OOD datasets
    probe_epochs: int
    head_banks: int


@dataclass(frozen=True)
class JobRates:
    """The three rates one job's cost depends on."""

    pretrain_img_s: float
    forward_img_s: float
    head_s_per_sample_epoch: float


@dataclass(frozen=True)
class Measured:
    """What ``make gpu-check`` measured: rates per (model, resolution[, precision]) and model."""

    pretrain: Mapping[tuple[str, int, str], float]  # (model, resolution, precision) → img/s
    forward: Mapping[tuple[str, int], float]  # (model, resolution) → img/s (extraction)
    head_s_per_sample_epoch: Mapping[str, float]  # model → s per probe-train sample per epoch


def job_seconds(job: StudyJob, rates: JobRates) -> dict[str, float]:
    """Seconds of each part of ``job`` at ``rates``; ``total`` is their sum."""
    parts = {
        "pretrain": job.train_images * job.epochs / rates.pretrain_img_s,
        "validation": job.val_images * job.epochs / rates.forward_img_s,
        "extraction": job.extract_images / rates.forward_img_s,
        "probes": job.probe_train_images
        * job.probe_epochs
        * job.head_banks
        * rates.head_s_per_sample_epoch,
    }
    parts["total"] = sum(parts.values())
    return parts


def interpolate_rate(rates: Mapping[int, float], resolution: int) -> float:
    """The rate at ``resolution`` from rates measured at other resolutions (see the module doc)."""
    if not rates:
        raise KeyError("no measured resolution")
    if resolution in rates:
        return float(rates[resolution])
    if len(rates) == 1:
        ((measured, rate),) = rates.items()
        return float(rate) * (measured / resolution) ** 2
    known = sorted(rates)
    below = [r for r in known if r < resolution]
    above = [r for r in known if r > resolution]
    if below and above:
        lo, hi = below[-1], above[0]
    elif below:
        lo, hi = below[-2], below[-1]
    else:
        lo, hi = above[0], above[1]
    x = math.log(resolution**2)
    x0, x1 = math.log(lo**2), math.log(hi**2)
    y0, y1 = math.log(rates[lo]), math.log(rates[hi])
    return math.exp(y0 + (y1 - y0) * (x - x0) / (x1 - x0))


@functools.cache
def forward_flops(model: str, resolution: int) -> float:
    """Forward FLOPs of one image through a paper model (built on the meta device, 100 classes)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from tunnellab.models import create_model

    kwargs = {"img_size": resolution} if model.startswith("vit") else {}
    with torch.device("meta"):
        net = create_model(model, num_classes=100, **kwargs).eval()
        x = torch.zeros(1, 3, resolution, resolution)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    return float(counter.get_total_flops())


@functools.cache
def feature_width(model: str, resolution: int = 32) -> int:
    """Summed width of a paper model's paper taps (what one head bank reads)."""
    import torch

    from tunnellab.models import create_model, tap_dims

    kwargs = {"img_size": resolution} if model.startswith("vit") else {}
    with torch.device("meta"):
        net = create_model(model, num_classes=100, **kwargs).eval()
    return sum(tap_dims(net, net.taps("paper"), resolution))


def job_rates(
    job: StudyJob,
    measured: Measured,
    flops=forward_flops,
    width=feature_width,
) -> JobRates:
    """The rates of ``job``: interpolated across resolutions, scaled from the model's sibling."""
    sibling = SIBLINGS.get(job.model)
    if sibling is None:
        raise KeyError(f"{job.model}: no measured sibling")
    r = job.resolution
    pretrain = {
        res: rate
        for (name, res, precision), rate in measured.pretrain.items()
        if name == sibling and precision == job.precision
    }
    forward = {res: rate for (name, res), rate in measured.forward.items() if name == sibling}
    if not pretrain or not forward or sibling not in measured.head_s_per_sample_epoch:
        raise KeyError(f"{sibling}: not measured at {job.precision}")
    scale = 1.0 if sibling == job.model else flops(sibling, r) / flops(job.model, r)
    heads = measured.head_s_per_sample_epoch[sibling]
    if sibling != job.model:
        heads *= width(job.model) / width(sibling)
    return JobRates(
        pretrain_img_s=interpolate_rate(pretrain, r) * scale,
        forward_img_s=interpolate_rate(forward, r) * scale,
        head_s_per_sample_epoch=heads,
    )


# -- jobs of a study, from its config -------------------------------------------------------------


def sweep_overrides(params: Mapping[str, str] | None) -> list[list[str]]:
    """Every job's overrides of a Hydra sweep (``hydra.sweeper.params``), in sweep order."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if not params:
        return [[]]
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    choices = [
        [f"{o.get_key_element()}={value}" for value in o.sweep_string_iterator()] for o in parsed
    ]
    return [list(combo) for combo in itertools.product(*choices)]


def _precision(trainer: DictConfig) -> str:
    return "bf16" if "bf16" in str(trainer.get("precision", "32")) else "fp32"


def _ood_sizes(cfg: DictConfig) -> list[tuple[int, int]]:
    from tunnellab.data.ood_suite import used_for

    sizes = []
    for key, node in (cfg.ood.get("datasets") or {}).items():
        if not used_for(node, str(cfg.data.name)):
            continue
        name = str(key)
        if name == "flowers" and node.get("test_split") == "test":
            name = "flowers_test"
        if name not in OOD_SIZES:
            raise KeyError(f"OOD dataset {key}: size unknown")
        sizes.append(OOD_SIZES[name])
    return sizes


#: Training images per class of the datasets whose size the config alone determines.
PER_CLASS_TRAIN = {"cifar10": 5_000, "cifar100": 500}


def expected_train_images(data: DictConfig) -> int | None:
    """How many images the ID config ``data`` trains on, from the datasets' published sizes.

    ``classes × samples_per_class`` for a sample subset; the full CIFAR classes or the full
    ImageNet-100 (less a held-out validation); None otherwise. An estimate for planning: a run
    itself counts the split it loaded.
    """
    from tunnellab.data.imagenet100 import IMAGENET100_TRAIN

    classes = int(data.classes)
    if data.get("samples_per_class") is not None:
        return classes * int(data.samples_per_class)
    name = str(data.get("name"))
    if name in PER_CLASS_TRAIN:
        n = PER_CLASS_TRAIN[name] * classes
    elif name == "imagenet100" and classes == 100:
        n = IMAGENET100_TRAIN
    else:
        return None
    if data.get("val_split") == "holdout":
        n -= classes * int(data.val_per_class)
    return n


def job_from_config(study: str, cfg: DictConfig, head_banks: int = PAPER_HEAD_BANKS) -> StudyJob:
    """The cost-relevant facts of one composed job config."""
    data = cfg.data
    n_train = expected_train_images(data)
    if n_train is None or str(data.name) not in ID_TEST_PER_CLASS:
        raise KeyError(f"ID dataset {data.name}: size unknown")
    classes = int(data.classes)
    n_test = ID_TEST_PER_CLASS[str(data.name)] * classes
    holdout = data.get("val_split", "test") == "holdout"
    val = int(data.val_per_class) * classes if holdout else n_test
    ood = _ood_sizes(cfg)
    probe_only = cfg.get("checkpoint") == "pretrained"
    return StudyJob(
        study=study,
        model=str(cfg.model.name),
        resolution=int(data.resolution),
        precision=_precision(cfg.trainer),
        epochs=0 if probe_only else int(cfg.optim.epochs),
        train_images=n_train,
        val_images=val,
        extract_images=n_train + n_test + sum(a + b for a, b in ood),
        probe_train_images=n_train + sum(a for a, _ in ood),
        probe_epochs=int(cfg.probe.epochs),
        head_banks=head_banks,
    )


def study_jobs(study: str) -> tuple[str, list[StudyJob]]:
    """The run name and every job of ``conf/experiment/paper/<study>.yaml``, composed as
    ``tunnellab-run -m experiment=paper/<study>`` composes them."""
    from tunnellab.config import compose_config

    experiment = [f"experiment=paper/{study}"]
    base = compose_config(experiment, return_hydra_config=True)
    jobs = [
        job_from_config(study, compose_config(experiment + overrides))
        for overrides in sweep_overrides(base.hydra.sweeper.params)
    ]
    return str(base.name), jobs


def study_hours(
    study: str, jobs: Sequence[StudyJob], measured: Measured, **scaling
) -> dict[str, object]:
    """GPU-hours of a study by part, or ``gpu_hours: None`` and why when a job has no rates."""
    totals = dict.fromkeys(("pretrain", "validation", "extraction", "probes", "total"), 0.0)
    for job in jobs:
        try:
            rates = job_rates(job, measured, **scaling)
        except KeyError as exc:
            return {"study": study, "jobs": len(jobs), "gpu_hours": None, "why": exc.args[0]}
        for part, seconds in job_seconds(job, rates).items():
            totals[part] += seconds / 3600
    hours = {k: round(v, 3) for k, v in totals.items()}
    return {"study": study, "jobs": len(jobs), "gpu_hours": hours}


def estimate_studies(
    measured: Measured, studies: Sequence[str] = PAPER_STUDIES
) -> list[dict[str, object]]:
    """:func:`study_hours` of every study. A study whose jobs another listed study already has
    (architecture and stem are the main grid under other names; augmentation sweeps the same
    grid) carries ``same_jobs_as`` and is not counted twice in a total."""
    rows: list[dict[str, object]] = []
    seen: dict[tuple, str] = {}
    for study in studies:
        try:
            _name, jobs = study_jobs(study)
        except KeyError as exc:
            rows.append({"study": study, "jobs": None, "gpu_hours": None, "why": exc.args[0]})
            continue
        row = study_hours(study, jobs, measured)
        key = tuple(sorted(dataclasses.astuple(dataclasses.replace(j, study="")) for j in jobs))
        if key in seen:
            row["same_jobs_as"] = seen[key]
        else:
            seen[key] = study
        rows.append(row)
    return rows
