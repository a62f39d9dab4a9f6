"""Each study composes and expands to the documented number of jobs; the paper recipe resolves."""

import math

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from tunnellab.config import compose_config, config_dir
from tunnellab.pretrain.paper_recipe import pretrain_value, probe_value

LAB_STUDIES = {
    "lab/depth": 6,
    "lab/class_count": 6,
    "lab/augmentation": 6,
    "lab/resolution": 6,
    "lab/samples_per_class": 9,
    "lab/smoke_sweep": 4,
}
PAPER_STUDIES = {
    "paper/main_grid": 24,
    "paper/architecture": 24,
    "paper/stem": 24,
    "paper/resolution": 12,
    "paper/augmentation": 24,
    "paper/spatial_reduction": 8,
    "paper/id_dataset": 16,
    "paper/class_count": 6,
    "paper/samples_per_class": 8,
    "paper/imagenet1k": 8,
}


def _n_jobs(experiment: str) -> int:
    cfg = compose_config([f"experiment={experiment}"], return_hydra_config=True)
    params = cfg.hydra.sweeper.params or {}
    parser = OverridesParser.create()
    overrides = parser.parse_overrides([f"{k}={v}" for k, v in params.items()])
    return math.prod(len(list(o.sweep_string_iterator())) for o in overrides)


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


@pytest.mark.parametrize(
    ("model", "data", "aug", "expected"),
    [
        ("vggm11", {"name": "imagenet100", "classes": 100}, "none", (6e-3, 512, 100)),
        ("vggm11", {"name": "imagenet100", "classes": 100}, "rrc_flip", (6e-3, 512, 70)),
        ("vggm17_dagger", {"name": "cifar100", "classes": 100}, "rrc_flip", (1e-2, 512, 100)),
        ("vggm11", {"name": "imagenet100", "classes": 10, "samples_per_class": 1000}, "rrc_flip",
         (8e-3, 512, 100)),
        ("resnet18", {"name": "imagenet100", "classes": 100}, "rrc_flip", (1e-2, 512, 80)),
        ("vit_t", {"name": "imagenet100", "classes": 100}, "rrc_flip", (8e-4, 96, 40)),
        ("vit_t_plus", {"name": "imagenet100", "classes": 100}, "rrc_flip", (8e-4, 96, 60)),
    ],
)  # fmt: skip
def test_paper_recipe_table(model, data, aug, expected):
    root = OmegaConf.create({"model": {"name": model}, "data": data, "aug": {"name": aug}})
    got = tuple(pretrain_value(k, root) for k in ("lr", "batch_size", "epochs"))
    assert got == expected


def test_paper_probe_recipe_by_family():
    vit = OmegaConf.create({"model": {"name": "vit_t"}})
    cnn = OmegaConf.create({"model": {"name": "resnet34"}})
    assert (probe_value("lr", vit), probe_value("batch_size", vit)) == (1e-2, 512)
    assert (probe_value("lr", cnn), probe_value("weight_decay", cnn)) == (1e-3, 0.0)


def test_optim_paper_resolves_per_model(compose):
    assert compose("optim=paper", "model=resnet18", "aug=rrc_flip").optim.epochs == 80
    assert compose("optim=paper", "model=vggm17").optim.lr == 6e-3
