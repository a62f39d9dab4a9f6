"""Each study composes and expands to the documented number of jobs; every job of every paper
study resolves the paper's protocol and the recipe the released runs had in effect."""

import itertools

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser

from tunnellab.config import compose_config, config_dir
from tunnellab.errors import ConfigError

LAB_STUDIES = {
    "lab/depth": 6,
    "lab/class_count": 6,
    "lab/augmentation": 6,
    "lab/resolution": 6,
    "lab/samples_per_class": 9,
    "lab/smoke_sweep": 4,
    "lab/continual": 3,
}
PAPER_STUDIES = {
    "paper/main_grid": 24,
    "paper/architecture": 24,
    "paper/stem": 24,
    "paper/resolution": 12,
    "paper/augmentation": 24,
    "paper/spatial_reduction": 4,
    "paper/id_dataset": 16,
    "paper/class_count": 6,
    "paper/samples_per_class": 8,
    "paper/imagenet1k": 8,
}


def _sweep(experiment: str) -> list[list[str]]:
    """The overrides of every job of the study's sweep."""
    cfg = compose_config([f"experiment={experiment}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params or {}
    parser = OverridesParser.create()
    overrides = parser.parse_overrides([f"{k}={v}" for k, v in params.items()])
    axes = [[f"{o.key_or_group}={v}" for v in o.sweep_string_iterator()] for o in overrides]
    return [list(job) for job in itertools.product(*axes)]


def _n_jobs(experiment: str) -> int:
    return len(_sweep(experiment))


@pytest.mark.parametrize(("experiment", "jobs"), LAB_STUDIES.items())
def test_lab_study_expands_to_its_jobs(experiment, jobs):
    assert _n_jobs(experiment) == jobs


@pytest.mark.parametrize(("experiment", "jobs"), PAPER_STUDIES.items())
def test_paper_study_expands_to_its_jobs(experiment, jobs):
    if not (config_dir() / "data" / "imagenet100.yaml").is_file():
        pytest.skip("real-dataset configs not present")
    assert _n_jobs(experiment) == jobs


@pytest.mark.parametrize("alias", ["paper/architecture", "paper/stem"])
def test_main_grid_aliases_share_its_runs(alias):
    if not (config_dir() / "data" / "imagenet100.yaml").is_file():
        pytest.skip("real-dataset configs not present")
    grid = compose_config(["experiment=paper/main_grid"], return_hydra_config=True)
    cfg = compose_config([f"experiment={alias}"], return_hydra_config=True)
    assert cfg.name == grid.name == "paper/main_grid"  # same run dirs, W&B group and run ids
    assert cfg.hydra.sweeper.params == grid.hydra.sweeper.params


def test_every_study_has_a_readme():
    root = config_dir().parent / "experiments"
    assert (root / "lab" / "README.md").is_file()
    for study in PAPER_STUDIES:
        assert (root / study.split("/")[1] / "README.md").is_file(), study


# The effective recipe of the released runs, written out from the audit (not read from conf/):
# ViTs ran as 4 processes x per-GPU batch 96 / 64 with DeiT's lr x global batch / 512 scaling.
VIT_RUNS = {"vit_t": (8e-4, 96), "vit_t_plus": (6e-4, 64)}
AUG_EPOCHS = {"vggm11": 70, "vggm17": 100, "resnet18": 80, "resnet34": 100, "vit_t": 40,
              "vit_t_plus": 60}  # fmt: skip
IN1K_VITS = ("in1k/vit_b16", "in1k/dino_vitb16", "in1k/mae_vitb16", "in1k/mugs_vitb16")


def expected_pretraining(cfg) -> dict:
    model = cfg.model.name.removesuffix("_dagger")
    augmented = cfg.aug.name != "none"
    subset = cfg.data.name == "imagenet100" and (
        cfg.data.classes != 100 or cfg.data.samples_per_class is not None
    )
    cifar = cfg.data.name in ("cifar10", "cifar100")
    if model in VIT_RUNS:
        base_lr, per_gpu = VIT_RUNS[model]
        lr, batch = base_lr * 4 * per_gpu / 512, 4 * per_gpu
    else:
        batch = 512
        lr = 1e-2 if model.startswith("resnet") or cifar else 8e-3 if subset else 6e-3
    vit = model in VIT_RUNS
    return {
        "lr": pytest.approx(lr),
        "batch_size": batch,
        "epochs": AUG_EPOCHS[model] if augmented and not subset else 100,
        "weight_decay": 0.05,
        "repeated_aug": 3 if vit and augmented else 0,
        "decay": "timm" if vit else "all",
        "precision": "16-mixed" if vit else "32-true",
        "norm": cfg.data.name if cifar else "imagenet",
    }


def expected_probe(vit: bool) -> dict:
    recipe = (1e-2, 1e-4, 512 * 4, 3) if vit else (1e-3, 0.0, 256, 0)
    return {
        **dict(zip(("lr", "weight_decay", "batch_size", "repeated_aug"), recipe, strict=True)),
        "epochs": 30,
        "holdout": "separate",
        "holdout_fraction": 0.1,
        "accuracy": "best",
        "extract_precision": "fp32",
        "label_smoothing": 0.1,
    }


@pytest.mark.parametrize("experiment", PAPER_STUDIES)
def test_every_job_of_every_paper_study_runs_the_paper_protocol_and_recipe(experiment):
    if not (config_dir() / "data" / "imagenet100.yaml").is_file():
        pytest.skip("real-dataset configs not present")
    jobs = _sweep(experiment)
    assert len(jobs) == PAPER_STUDIES[experiment]
    for job in jobs:
        cfg = compose_config([f"experiment={experiment}", *job])
        vit = cfg.model.name.startswith("vit") or any(f"model={m}" in job for m in IN1K_VITS)
        probe = {key: cfg.probe[key] for key in expected_probe(vit)}
        assert probe == expected_probe(vit), job
        if cfg.checkpoint == "pretrained":  # the ImageNet-1K study probes public weights
            continue
        expected = expected_pretraining(cfg)
        got = {key: cfg.optim[key] for key in ("lr", "batch_size", "epochs", "weight_decay")}
        got |= {"repeated_aug": cfg.optim.repeated_aug, "decay": cfg.optim.decay}
        got |= {"precision": cfg.trainer.precision, "norm": cfg.data.norm}
        assert got == expected, job


def test_cifar_backbones_normalise_with_cifar_statistics_everywhere_else_imagenet(compose):
    from tunnellab.data.transforms import IMAGENET_MEAN, NORM_STATS

    assert NORM_STATS[compose("experiment=paper/id_dataset", "data=cifar10").data.norm][0] == (
        0.4914, 0.4822, 0.4465,
    )  # fmt: skip
    for overrides in (("experiment=quickstart",), ("data=cifar10",), ("experiment=lab/depth",)):
        assert NORM_STATS[compose(*overrides).data.norm][0] == IMAGENET_MEAN


def test_user_runs_keep_their_recipe_and_protocol(compose):
    for name, expected in {
        "paper_vggm": (6e-3, 512, 100), "paper_vggm_cifar": (1e-2, 512, 100),
        "paper_vggm_subset": (8e-3, 512, 100), "paper_resnet": (1e-2, 512, 100),
    }.items():  # fmt: skip
        optim = compose(f"optim={name}", "model=resnet18", "aug=rrc_flip").optim
        assert (optim.lr, optim.batch_size, optim.epochs, optim.repeated_aug) == (*expected, 0)
        assert optim.decay == "all"
    for overrides in ((), ("experiment=quickstart",), ("experiment=lab/depth",)):
        probe = compose(*overrides).probe
        got = (probe.lr, probe.weight_decay, probe.batch_size, probe.holdout, probe.accuracy)
        assert got == (1e-3, 0.0, 256, "shared", "selected")
        assert (probe.order, probe.repeated_aug, probe.extract_precision) == ("shuffle", 0, "auto")
    assert compose("optim=paper_vit").optim.batch_size == 384


def test_optim_paper_reads_the_row_of_model_family(compose):
    assert compose("optim=paper", "model=resnet18", "aug=rrc_flip").optim.epochs == 80
    assert compose("optim=paper", "model=vggm17").optim.lr == 6e-3
    vit = compose("optim=paper", "model=vit_t_plus", "aug=rrc_flip").optim
    assert (vit.lr, vit.batch_size, vit.epochs, vit.repeated_aug) == (3e-4, 256, 60, 3)


def test_a_model_without_a_family_is_told_to_declare_one(compose):
    with pytest.raises(ConfigError, match=r"'optim.lr' cannot be resolved.*'model.family' is not"):
        compose("optim=paper", "model=timm")
    cfg = compose("probe=paper", "model=timm", "model.family=vit")
    assert cfg.probe.batch_size == 2048
    with pytest.raises(ConfigError, match=r"'model.family=mlp' is not allowed"):
        compose("model=vggm11", "model.family=mlp")
