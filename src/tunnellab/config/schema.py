"""Structured-config dataclasses: the typed schema of every config group.

Hydra merges each YAML file of ``conf/`` into the dataclass of its group, so an unknown key or a
wrong type fails at compose time. Value rules (ranges, allowed choices) live beside each field as
``metadata`` and are checked by :mod:`tunnellab.config.validate` right after composition.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from tunnellab.advise.nuisances import NUISANCES
from tunnellab.config.rules import (
    Rule,
    at_least,
    choices,
    fraction,
    in_range,
    known_name,
    no_width_multiplier,
    optional_at_least,
    positive,
    source_side,
    weights_source,
)
from tunnellab.models import list_models
from tunnellab.models.external import timm_model_names, torchvision_model_names
from tunnellab.models.tap_discovery import TAP_DISCOVERY
from tunnellab.models.taps import TAP_KINDS
from tunnellab.probe.heads import ProbeRecipe
from tunnellab.probe.knn import KnnRecipe
from tunnellab.probe.scores import ESTIMATORS
from tunnellab.probe.variants import CONTROLS, LINEAR, PROBE_KINDS

AUGMENTATIONS = ("none", "rrc_flip")
LOGGER_KINDS = ("wandb", "csv", "none")
WANDB_MODES = ("auto", "offline", "online", "disabled")
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
PROBE_ACCURACIES = ("selected", "best", "last")
PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "64-true")
# model.family: the row of the paper's recipe tables (conf/optim/paper.yaml, conf/probe/paper.yaml)
MODEL_FAMILIES = ("vggm", "resnet", "vit", "convnext")
DECAY_MODES = ("all", "timm")
PROBE_HOLDOUTS = ("shared", "separate", "none")
PROBE_ORDERS = ("shuffle", "fixed")


def _norm_names() -> list[str]:
    from tunnellab.data.transforms import NORM_STATS

    return list(NORM_STATS)


def norm_field() -> Any:
    """``data.norm``: the mean/std the backbone is trained and probed with."""
    return field(default="imagenet", metadata=choices(source=_norm_names))


def _repeats_rule() -> dict[str, Rule]:
    """DeiT-style repeated augmentation: 0 (off) or a repeat count of at least 2."""
    return Rule(
        check=lambda v: isinstance(v, int) and (v == 0 or v >= 2),
        allowed=lambda: "0 (off) or a repeat count >= 2",
    ).as_metadata()


def _optional_family() -> dict[str, Rule]:
    return Rule(
        check=lambda v: v is None or v in MODEL_FAMILIES,
        allowed=lambda: "null or one of: " + ", ".join(MODEL_FAMILIES),
    ).as_metadata()


@dataclass
class LabDataConfig:
    """The built-in procedural lab dataset (no download)."""

    _target_: str = "tunnellab.data.lab.builders.build_lab_id"
    name: str = field(default="lab", metadata=choices("lab"))
    resolution: int = field(default=32, metadata=in_range(16, 224))
    classes: int = field(default=10, metadata=in_range(2, 108))
    samples_per_class: int = field(default=500, metadata=at_least(2))
    val_per_class: int = field(default=50, metadata=at_least(1))
    test_per_class: int = field(default=100, metadata=at_least(1))
    seed: int = 0
    norm: str = norm_field()
    augmentation: str = field(default="${aug.name}", metadata=choices(*AUGMENTATIONS))
    # side of the scenes augmented crops are cut from (rendered only with aug=rrc_flip; <k>r =
    # k x the resolution, at most 224)
    source_side: int | str = field(default="4r", metadata=source_side(224, original=False))


@dataclass
class OODConfig:
    """An OOD suite: named dataset builders, each returning train and test splits."""

    name: str = "lab"
    datasets: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelConfig:
    """A backbone, built by ``tunnellab.models.create_model`` (timm-style registry)."""

    _target_: str = "tunnellab.models.create_model"
    name: str = field(default=MISSING, metadata=choices(source=list_models))
    num_classes: int = "${data.classes}"  # type: ignore[assignment]
    width: float = field(default=1.0, metadata=in_range(0.01, 4.0))
    family: str | None = field(default=None, metadata=_optional_family())


@dataclass
class AugConfig:
    """Pretraining augmentation: ``none`` (deterministic) or ``rrc_flip``."""

    name: str = field(default="none", metadata=choices(*AUGMENTATIONS))
    scale_min: float = field(default=0.08, metadata=fraction())
    flip_p: float = field(default=0.5, metadata=fraction())


@dataclass
class OptimConfig:
    """Pretraining recipe: AdamW, label smoothing, linear warm-up then cosine to 0."""

    name: str = field(default="adamw", metadata=choices("adamw"))
    lr: float = field(default=1e-2, metadata=positive())
    weight_decay: float = field(default=0.05, metadata=at_least(0.0))
    batch_size: int = field(default=512, metadata=at_least(1))
    epochs: int = field(default=100, metadata=at_least(1))
    warmup_epochs: float = field(default=5.0, metadata=at_least(0.0))
    warmup_start_factor: float = field(default=0.01, metadata=in_range(1e-6, 1.0))
    label_smoothing: float = field(default=0.1, metadata=in_range(0.0, 0.99))
    # Repeated augmentation (DeiT's RASampler) with this many repeats; 0 = one shuffled pass.
    repeated_aug: int = field(default=0, metadata=_repeats_rule())
    # all: AdamW decays every parameter; timm: not biases, norms, position embeddings, tokens.
    decay: str = field(default="all", metadata=choices(*DECAY_MODES))
    # The paper's recipe table (conf/optim/paper.yaml): rows the ${paper_recipe:...} keys read.
    table: dict[str, Any] = field(default_factory=dict)


EXTRACT_PRECISIONS = ("auto", "fp32", "bf16")


def _positive_numbers() -> dict[str, Rule]:
    """A list of numbers, each ``> 0`` (may be empty)."""
    return Rule(
        check=lambda v: v is not None and all(x is not None and x > 0 for x in v),
        allowed=lambda: "a list of numbers > 0 (empty = off)",
    ).as_metadata()


def _subset_of(values: tuple[str, ...], empty: bool) -> dict[str, Rule]:
    """A list of distinct names from ``values`` (may be empty when ``empty``)."""
    return Rule(
        check=lambda v: (
            v is not None
            and (empty or len(v) > 0)
            and len(set(v)) == len(v)
            and all(x in values for x in v)
        ),
        allowed=lambda: (
            f"a list of distinct names from {list(values)}"
            + (" (empty = off)" if empty else " (at least one)")
        ),
    ).as_metadata()


def _epoch_numbers() -> dict[str, Rule]:
    """A list of whole epoch numbers, each ``>= 1`` (may be empty)."""
    return Rule(
        check=lambda v: v is not None and all(isinstance(x, int) and x >= 1 for x in v),
        allowed=lambda: "a list of epochs >= 1 and <= optim.epochs (empty = off)",
    ).as_metadata()


def _estimators() -> dict[str, Rule]:
    """A list of training-free layer-score names (may be empty)."""
    return Rule(
        check=lambda v: v is not None and all(x in ESTIMATORS for x in v),
        allowed=lambda: "a list drawn from: " + ", ".join(ESTIMATORS) + " (empty = off)",
    ).as_metadata()


@dataclass
class ProbeConfig:
    """Linear probes on every tap, trained together on cached features.

    The recipe keys default to :class:`tunnellab.probe.heads.ProbeRecipe`'s values (the paper's
    CNN probes); ``conf/probe/*.yaml`` set only what differs.
    """

    name: str = "paper_cnn"
    epochs: int = field(default=ProbeRecipe.epochs, metadata=at_least(1))
    lr: float = field(default=ProbeRecipe.lr, metadata=positive())
    weight_decay: float = field(default=ProbeRecipe.weight_decay, metadata=at_least(0.0))
    batch_size: int = field(default=ProbeRecipe.batch_size, metadata=at_least(1))
    label_smoothing: float = field(
        default=ProbeRecipe.label_smoothing, metadata=in_range(0.0, 0.99)
    )
    init_std: float = field(default=ProbeRecipe.init_std, metadata=positive())
    holdout_fraction: float = field(default=0.1, metadata=in_range(0.0, 0.5))
    # shared: one head bank on (1 - holdout_fraction) of probe-train gives acc_best/last/selected;
    # separate: the bank on all of probe-train (acc_best/last), a second on the split only for
    # acc_selected (the paper's protocol); none: all of probe-train, no acc_selected.
    holdout: str = field(default="shared", metadata=choices(*PROBE_HOLDOUTS))
    # Which per-tap accuracy feeds the tunnel metrics: selected (epoch chosen on the held-out
    # split of probe-train), best (best test epoch: the paper's protocol), or last.
    accuracy: str = field(default="selected", metadata=choices(*PROBE_ACCURACIES))
    # Minibatches: shuffle (seeded, every epoch) or fixed (the split's stored order every epoch).
    order: str = field(default="shuffle", metadata=choices(*PROBE_ORDERS))
    # Repeated sampling of the probe-train features (DeiT's RASampler); 0 = off.
    repeated_aug: int = field(default=0, metadata=_repeats_rule())
    # The paper's probe table (conf/probe/paper.yaml): rows the ${paper_probe:...} keys read.
    table: dict[str, Any] = field(default_factory=dict)
    # Numerical rank and NC1 of every tap on (up to 2,048) ID training samples.
    diagnostics: bool = True
    # t-SNE of ID and one OOD set's cached test features at a few taps: <run dir>/embeddings.png.
    embeddings: bool = True
    # 256: on CPU 1.4x faster than 512 (activations stay in cache); ample for a GPU.
    extract_batch_size: int = field(default=256, metadata=at_least(1))
    device: str = field(default="auto", metadata=choices("auto", "cpu", "cuda"))
    # Extraction precision: auto = bf16 autocast on CUDA, fp32 on CPU (channels-last on both).
    extract_precision: str = field(default="auto", metadata=choices(*EXTRACT_PRECISIONS))
    # A split whose features exceed this many GB streams to memory-mapped files (0 = always);
    # in-RAM splits read last stay in RAM, up to half of it, for the later readers of a run.
    ram_budget_gb: float = field(default=8.0, metadata=at_least(0.0))
    # Learning rates trained side by side per tap; the held-out split picks one (empty = off).
    lr_grid: list[float] = field(
        default_factory=lambda: list(ProbeRecipe.lr_grid), metadata=_positive_numbers()
    )
    # Floors probed beside the trained backbone (empty = off; the paper/* studies turn them off).
    controls: list[str] = field(
        default_factory=lambda: list(CONTROLS), metadata=_subset_of(CONTROLS, empty=True)
    )
    # Probe kinds on the cached features: linear heads and / or cosine kNN (probe/knn.py).
    kinds: list[str] = field(
        default_factory=lambda: list(PROBE_KINDS), metadata=_subset_of(PROBE_KINDS, empty=False)
    )
    # Which kind's accuracies feed the tunnel metrics, the curves and the W&B headline.
    metrics_from: str = field(default=LINEAR, metadata=choices(*PROBE_KINDS))
    knn_k: int = field(default=KnnRecipe.k, metadata=at_least(1))
    knn_temperature: float = field(default=KnnRecipe.temperature, metadata=positive())
    # Epochs whose checkpoints are kept and probed too: dynamics.csv / .png (empty = off).
    at_epochs: list[int] = field(default_factory=list, metadata=_epoch_numbers())
    # Training-free layer scores written to scores.csv (empty = off): docs/scores.md.
    scores: list[str] = field(default_factory=lambda: list(ESTIMATORS), metadata=_estimators())


@dataclass
class TrainerConfig:
    """Arguments of ``pytorch_lightning.Trainer`` (epochs come from ``optim.epochs``)."""

    _target_: str = "pytorch_lightning.Trainer"
    accelerator: str = field(default="cpu", metadata=choices(*ACCELERATORS))
    devices: Any = 1
    strategy: str = "auto"
    num_nodes: int = field(default=1, metadata=at_least(1))
    precision: str = field(default="32-true", metadata=choices(*PRECISIONS))
    deterministic: bool = True
    log_every_n_steps: int = field(default=10, metadata=at_least(1))
    enable_progress_bar: bool = True
    enable_model_summary: bool = False
    num_sanity_val_steps: int = 0


@dataclass
class LoggerConfig:
    """Experiment tracking: W&B (offline unless logged in), Lightning CSV, or none."""

    kind: str = field(default="wandb", metadata=choices(*LOGGER_KINDS))
    project: str = "tunnellab"
    entity: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    mode: str = field(default="auto", metadata=choices(*WANDB_MODES))
    # W&B: the probed checkpoint (best.ckpt) as a model artifact of the run.
    log_checkpoint: bool = False


@dataclass
class PathsConfig:
    """Where things live: run dirs under ``output_root``, real datasets under ``data_dir``."""

    output_root: str = "outputs"
    data_dir: str = "${oc.env:TUNNELLAB_DATA,data}"
    cache_dir: str | None = None  # feature cache; None = <run dir>/features


NUISANCE_NAMES: tuple[str, ...] = tuple(NUISANCES)


def _nuisance_list_rule() -> dict[str, Rule]:
    rule = Rule(
        check=lambda v: v is not None and all(n in NUISANCE_NAMES for n in v),
        allowed=lambda: "a list drawn from: " + ", ".join(NUISANCE_NAMES),
    )
    return rule.as_metadata()


@dataclass
class AdviseConfig:
    """``tunnellab-advise``: which nuisances to test and whether to check the resolution."""

    nuisances: list[str] = field(
        default_factory=lambda: list(NUISANCE_NAMES), metadata=_nuisance_list_rule()
    )
    resolution_check: bool = True
    fit_samples: int = field(default=4096, metadata=at_least(6))  # images per side of the fit
    # Fast mode: probe only the k taps the training-free scores rank highest (+ the last); 0 = all.
    top_k: int = field(default=0, metadata=at_least(0))


@dataclass
class ContinualMixingConfig:
    """Mixup + CutMix of the continual recipe (timm's Mixup; see continual/mixing.py)."""

    enabled: bool = True
    mixup_p: float = field(default=0.6, metadata=in_range(0.0, 1.0))
    mixup_alpha: float = field(default=0.1, metadata=in_range(0.0, 100.0))
    cutmix_p: float = field(default=0.4, metadata=in_range(0.0, 1.0))
    cutmix_alpha: float = field(default=1.0, metadata=in_range(0.0, 100.0))


@dataclass
class ContinualFinetuneConfig:
    """The fine-tuning arms: AdamW, lr x ``gamma`` at the ``milestones`` epochs."""

    epochs: int = field(default=50, metadata=at_least(1))
    lr: float = 0.01
    weight_decay: float = 0.05
    batch_size: int = field(default=512, metadata=at_least(2))
    milestones: list[int] = field(default_factory=lambda: [20, 40])
    gamma: float = 0.1


@dataclass
class ContinualConfig:
    """The continual stage (``tunnellab.continual``): tasks as 1-based ID classes, the tunnel."""

    tasks: list[Any] = field(default_factory=lambda: ["1-50", "51-100"])
    tunnel_start: Any = "own"  # own | paper | a tap number
    own_fraction: float = field(default=0.95, metadata=in_range(0.01, 1.0))
    paper_tunnel_starts: dict[str, int] = field(default_factory=lambda: {"32": 14, "224": 15})
    mixing: ContinualMixingConfig = field(default_factory=ContinualMixingConfig)
    finetune: ContinualFinetuneConfig = field(default_factory=ContinualFinetuneConfig)
    device: str = "auto"
    eval_batch_size: int = field(default=256, metadata=at_least(1))


@dataclass
class AdviseDataConfig:
    """Your images for the advisor: ``<path>/<class>/<image>`` (+ optional ``test_path``)."""

    _target_: str = "tunnellab.data.folders.build_imagefolder"
    name: str = "my_images"
    path: str = MISSING
    test_path: str | None = None
    train_dir: str | None = "train"
    test_dir: str | None = "test"
    resolution: int = field(default=224, metadata=in_range(16, 224))
    test_fraction: float = field(default=0.2, metadata=in_range(0.01, 0.9))
    seed: int = 0
    cache: bool = False


@dataclass
class RunConfig:
    """The whole composed config of one run (the primary schema)."""

    data: Any = MISSING
    ood: OODConfig = field(default_factory=OODConfig)
    model: Any = MISSING
    aug: AugConfig = field(default_factory=AugConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    probe: ProbeConfig = field(default_factory=ProbeConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    paths: PathsConfig = field(default_factory=PathsConfig)
    taps: str = field(default="paper", metadata=choices(*TAP_KINDS))
    seed: int = field(default=0, metadata=at_least(0))
    name: str = "run"
    skip_if_done: bool = True
    overwrite: bool = False  # another config's work in the run dir: moved aside, not an error
    report: bool = True  # report.html per run and per multirun (tunnellab.report)
    checkpoint: str | None = None  # tunnellab-probe: weights to probe (default <run dir>/best)
    threads: int | None = field(
        default=None, metadata=optional_at_least(1, meaning="PyTorch's default")
    )  # CPU intra-op threads
    advise: AdviseConfig = field(default_factory=AdviseConfig)
    continual: ContinualConfig | None = None  # experiment=*/continual: the continual stage


# --- ViT-T and external (timm / torchvision) backbones ---------------------------------------
@dataclass
class ViTModelConfig(ModelConfig):
    """ViT-T / ViT-T+: a registry model plus stochastic depth and the input size."""

    drop_path_rate: float = field(default=0.0, metadata=in_range(0.0, 0.9))
    img_size: int = "${data.resolution}"  # type: ignore[assignment]


@dataclass
class ExternalModelConfig:
    """What timm and torchvision backbones share (``tunnellab.models.external``)."""

    _target_: str = MISSING
    name: str = MISSING
    num_classes: int = "${data.classes}"  # type: ignore[assignment]
    weights: str | None = field(default=None, metadata=weights_source())
    tap_discovery: str = field(default="blocks", metadata=choices(*TAP_DISCOVERY))
    img_size: int = "${data.resolution}"  # type: ignore[assignment]
    width: float = field(default=1.0, metadata=no_width_multiplier())
    family: str | None = field(default=None, metadata=_optional_family())


@dataclass
class TimmModelConfig(ExternalModelConfig):
    """Any timm model: ``model=timm model.name=<timm name>``."""

    _target_: str = "tunnellab.models.external.timm_backbone"
    name: str = field(default=MISSING, metadata=known_name(timm_model_names, "timm.list_models()"))
    drop_path_rate: float = field(default=0.0, metadata=in_range(0.0, 0.9))


@dataclass
class TorchvisionModelConfig(ExternalModelConfig):
    """Any torchvision classification model: ``model=torchvision model.name=<name>``."""

    _target_: str = "tunnellab.models.external.torchvision_backbone"
    name: str = field(
        default=MISSING,
        metadata=known_name(torchvision_model_names, "torchvision's classification models"),
    )
