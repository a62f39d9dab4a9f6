"""Every file of conf/ composes and validates."""

from pathlib import Path

import pytest

from tunnellab.config import config_dir
from tunnellab.models import list_models

CONF = config_dir()
GROUPS = ["data", "ood", "model", "aug", "optim", "probe", "trainer", "logger", "paths"]
#: options with a required value (``???``) and the value a user must add
REQUIRED = {"data=torchvision": ["data.dataset=SVHN"]}


def _options(group: str) -> list[str]:
    """Every option of a group, nested ones as ``folder/name`` (e.g. ``model=in1k/resnet50``)."""
    root = CONF / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def _experiments() -> list[str]:
    root = CONF / "experiment"
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


@pytest.mark.parametrize(
    "override", [f"{g}={o}" for g in GROUPS for o in _options(g)], ids=lambda s: s
)
def test_every_group_option_composes(compose, override):
    cfg = compose(override, *REQUIRED.get(override, []))
    group, option = override.split("=")
    assert cfg[group] is not None
    if group == "model" and option in list_models():  # timm / torchvision / in1k name others
        assert cfg.model.name == option


@pytest.mark.parametrize("experiment", _experiments())
def test_every_experiment_composes(compose, experiment):
    cfg = compose(f"experiment={experiment}")
    assert cfg.name


def test_the_tree_has_the_documented_groups():
    for group in [*GROUPS, "experiment"]:
        assert (CONF / group).is_dir(), group
        assert _options(group) or group == "experiment"
    assert Path(CONF / "config.yaml").is_file()


def test_user_facing_keys_exist(compose):
    cfg = compose(
        "model=resnet18",
        "aug=rrc_flip",
        "data.resolution=64",
        "data.classes=20",
        "data.samples_per_class=30",
        "optim.lr=0.003",
        "probe.epochs=5",
        "seed=3",
    )
    assert (cfg.model.name, cfg.aug.name, cfg.data.resolution) == ("resnet18", "rrc_flip", 64)
    assert (cfg.data.classes, cfg.data.samples_per_class, cfg.seed) == (20, 30, 3)
    assert cfg.model.num_classes == 20
    assert cfg.optim.lr == 0.003 and cfg.probe.epochs == 5
    assert cfg.ood.datasets.glyphs.resolution == 64
