"""Every file of conf/ composes, validates and resolves to the values it promises.

Each group option and each experiment has a row of expected values below (written out by hand
from what the file is for, not read from the YAML), and a new file without a row fails
``test_every_file_has_expectations``. The ViT recipe's numbers are left out where they are being
retuned; the CNN recipes, which the released results fix, are checked number by number.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig, OmegaConf

from tunnellab.config import compose_config, config_dir
from tunnellab.instantiate import instantiate_node as instantiate

CONF = config_dir()
GROUPS = ["data", "ood", "model", "aug", "optim", "probe", "trainer", "logger", "paths"]
MISSING = object()
DATA_DIR = os.environ.get("TUNNELLAB_DATA", "data")  # paths.data_dir
#: options with a required value (``???``) and the value a user must add
REQUIRED = {"data=torchvision": ["data.dataset=SVHN"]}


def _options(group: str) -> list[str]:
    """Every option of a group, nested ones as ``folder/name`` (e.g. ``model=in1k/resnet50``)."""
    root = CONF / group
    return sorted(str(p.relative_to(root).with_suffix("")) for p in root.rglob("*.yaml"))


def _experiments() -> list[str]:
    return _options("experiment")


PAPER8 = ["ninco", "imagenet_r", "cub", "aircraft", "flowers", "cifar100", "cifar10", "pets"]
PAPER8 += ["stl10"]  # 8 per ID dataset: CIFAR-10 stands in for CIFAR-100 on a CIFAR-100 model
IN1K = {  # option → (timm name, weights: "cache" or the file name under data_dir/weights)
    "convnext_b": ("convnext_base.fb_in1k", "cache"),
    "dino_vitb16": ("vit_base_patch16_224.dino", "cache"),
    "fcmae_convnextv2_b": ("convnextv2_base.fcmae", "cache"),
    "mae_vitb16": ("vit_base_patch16_224.mae", "cache"),
    "mugs_vitb16": ("vit_base_patch16_224", "mugs_vit_base_backbone_400ep.pth"),
    "resnet50": ("resnet50.tv_in1k", "cache"),
    "swav_resnet50": ("resnet50", "swav_800ep_pretrain.pth.tar"),
    "vit_b16": ("vit_base_patch16_224.augreg_in1k", "cache"),
}
# Our models: (family, depth, paper taps). CNN taps = every weight layer but the classifier
# (depth - 1); ViT taps = one per transformer block (depth).
MODELS = {
    "vggm11": ("vggm", 11, 10),
    "vggm11_dagger": ("vggm", 11, 10),
    "vggm17": ("vggm", 17, 16),
    "vggm17_dagger": ("vggm", 17, 16),
    "resnet18": ("resnet", 18, 17),
    "resnet34": ("resnet", 34, 33),
    "vit_t": ("vit", 12, 12),
    "vit_t_plus": ("vit", 18, 18),
}

# group=option → {dotted key: value} on top of the default config (model vggm11, data lab).
EXPECTED: dict[str, dict[str, Any]] = {
    "data=cifar10": {"data.name": "cifar10", "data.resolution": 32, "data.classes": 10,
                     "data.samples_per_class": None, "data.download": False,
                     "model.num_classes": 10},
    "data=cifar100": {"data.name": "cifar100", "data.resolution": 32, "data.classes": 100,
                      "data.samples_per_class": None, "model.num_classes": 100},
    "data=imagefolder": {"data.name": "imagefolder", "data.resolution": 32, "data.classes": 10,
                         "data.train_dir": "train", "data.test_fraction": 0.2},
    "data=imagenet100": {"data.name": "imagenet100", "data.resolution": 224,
                         "data.classes": 100, "data.samples_per_class": None,
                         "data.val_split": "test", "model.num_classes": 100},
    "data=lab": {"data.name": "lab", "data.resolution": 32, "data.classes": 10,
                 "data.samples_per_class": 500, "data.val_per_class": 50,
                 "data.test_per_class": 100},
    "data=torchvision": {"data.name": "SVHN", "data.dataset": "SVHN", "data.resolution": 32,
                         "data.classes": 10, "data.download": False},
    "ood=custom": {"ood.name": "custom", "ood.datasets": ["my_folder", "svhn", "ninco"],
                   "ood.datasets.svhn.dataset": "SVHN",
                   "ood.datasets.my_folder.test_fraction": 0.2},
    "ood=lab": {"ood.name": "lab", "ood.datasets": ["glyphs", "digits", "heldout"],
                "ood.datasets.glyphs.classes": 26, "ood.datasets.glyphs.resolution": 32,
                "ood.datasets.digits.test_fraction": 0.2,
                "ood.datasets.heldout.train_per_class": 60},
    "ood=none": {"ood.name": "none", "ood.datasets": []},
    "ood=paper8": {"ood.name": "paper8", "ood.datasets": PAPER8,
                   "ood.datasets.flowers.test_split": "val",
                   "ood.datasets.cifar100.skip_for": ["cifar100"],
                   "ood.datasets.cifar10.only_for": ["cifar100"]},
    "aug=none": {"aug.name": "none"},
    "aug=rrc_flip": {"aug.name": "rrc_flip", "aug.scale_min": 0.08, "aug.flip_p": 0.5},
    # CNN pretraining recipes: lr, weight decay, batch, epochs, warm-up epochs.
    "optim=lab": {"optim.lr": 1e-2, "optim.weight_decay": 0.05, "optim.batch_size": 128,
                  "optim.epochs": 12, "optim.warmup_epochs": 1.0},
    "optim=paper": {"optim.lr": 6e-3, "optim.weight_decay": 0.05, "optim.batch_size": 512,
                    "optim.epochs": 100, "optim.warmup_epochs": 5.0},  # VGGm-11, no aug
    "optim=paper_resnet": {"optim.lr": 1e-2, "optim.batch_size": 512, "optim.epochs": 100,
                           "optim.weight_decay": 0.05, "optim.warmup_epochs": 5.0},
    "optim=paper_vggm": {"optim.lr": 6e-3, "optim.batch_size": 512, "optim.epochs": 100,
                         "optim.weight_decay": 0.05, "optim.warmup_epochs": 5.0},
    "optim=paper_vggm_cifar": {"optim.lr": 1e-2, "optim.batch_size": 512, "optim.epochs": 100},
    "optim=paper_vggm_subset": {"optim.lr": 8e-3, "optim.batch_size": 512, "optim.epochs": 100},
    "optim=paper_vit": {"optim.weight_decay": 0.05, "optim.epochs": 100,
                        "optim.warmup_epochs": 5.0},
    "probe=fast": {"probe.name": "fast", "probe.epochs": 10, "probe.lr": 3e-3,
                   "probe.weight_decay": 0.0, "probe.batch_size": 256,
                   "probe.holdout_fraction": 0.1, "probe.accuracy": "selected"},
    "probe=paper": {"probe.name": "paper", "probe.epochs": 30, "probe.lr": 1e-3,
                    "probe.weight_decay": 0.0, "probe.batch_size": 256,
                    "probe.label_smoothing": 0.1},  # the CNN probe, for VGGm-11
    "probe=paper_cnn": {"probe.name": "paper_cnn", "probe.epochs": 30, "probe.lr": 1e-3,
                        "probe.weight_decay": 0.0, "probe.batch_size": 256,
                        "probe.init_std": 0.01, "probe.label_smoothing": 0.1},
    "probe=paper_vit": {"probe.name": "paper_vit", "probe.epochs": 30,
                        "probe.label_smoothing": 0.1, "probe.holdout_fraction": 0.1},
    "trainer=cpu": {"trainer.accelerator": "cpu", "trainer.devices": 1,
                    "trainer.precision": "32-true", "trainer.deterministic": True},
    "trainer=ddp": {"trainer.accelerator": "gpu", "trainer.strategy": "ddp",
                    "trainer.devices": "auto", "trainer.precision": "bf16-mixed"},
    "trainer=gpu": {"trainer.accelerator": "gpu", "trainer.devices": 1,
                    "trainer.precision": "bf16-mixed", "trainer.deterministic": False},
    "logger=csv": {"logger.kind": "csv"},
    "logger=none": {"logger.kind": "none"},
    "logger=wandb": {"logger.kind": "wandb", "logger.project": "tunnellab", "logger.mode": "auto"},
    "paths=default": {"paths.output_root": "outputs", "paths.cache_dir": None,
                      "paths.data_dir": DATA_DIR},
}  # fmt: skip
for _name, (_family, _depth, _taps) in MODELS.items():
    EXPECTED[f"model={_name}"] = {"model.name": _name, "model.width": 1.0,
                                  "model.num_classes": 10, "taps": _taps,
                                  "meta.family": _family, "meta.depth": _depth}  # fmt: skip
for _lib in ("timm", "torchvision"):  # both default to an 8-block ResNet-18
    EXPECTED[f"model={_lib}"] = {"model.name": "resnet18", "model.weights": None,
                                 "model.tap_discovery": "blocks", "model.num_classes": 10,
                                 "model.img_size": 32, "taps": 8, "meta.source": _lib}  # fmt: skip
for _option, (_timm, _file) in IN1K.items():
    _weights = _file if _file == "cache" else f"{DATA_DIR}/weights/{_file}"
    EXPECTED[f"model=in1k/{_option}"] = {"model.name": _timm, "model.weights": _weights,
                                         "model.tap_discovery": "blocks",
                                         "data.resolution": 224, "model.img_size": 224}  # fmt: skip

PAPER = {"data.name": "imagenet100", "ood.name": "paper8", "trainer.accelerator": "gpu",
         "logger.kind": "wandb", "probe.name": "paper"}  # fmt: skip
# The CNN recipe the paper resolvers give VGGm-11 on the full ImageNet-100, no augmentation.
VGGM11_FULL = {"optim.lr": 6e-3, "optim.batch_size": 512, "optim.epochs": 100,
               "probe.lr": 1e-3, "probe.batch_size": 256}  # fmt: skip
ARCHITECTURES = "vggm11,vggm17,resnet18,resnet34,vit_t,vit_t_plus"
MAIN_GRID = {**PAPER, **VGGM11_FULL, "name": "paper/main_grid", "model.name": "vggm11",
             "sweep": {"model": ARCHITECTURES, "data.resolution": "32,224",
                       "aug": "none,rrc_flip"}}  # fmt: skip
QUICKSTART = {"model.name": "vggm17", "model.width": 0.125, "data.resolution": 32,
              "data.classes": 10, "data.samples_per_class": 1000, "optim.lr": 5e-3,
              "optim.epochs": 20, "optim.batch_size": 128, "probe.name": "paper_cnn"}  # fmt: skip
LAB = {**QUICKSTART, "logger.kind": "csv"}
SMOKE = {"name": "smoke", "model.name": "vggm11", "model.width": 0.0625, "data.classes": 4,
         "model.num_classes": 4, "data.samples_per_class": 40, "data.val_per_class": 10,
         "optim.epochs": 2, "optim.batch_size": 32, "probe.name": "fast", "probe.epochs": 3,
         "logger.kind": "none", "ood.datasets.glyphs.classes": 4,
         "ood.datasets.heldout.test_per_class": 5}  # fmt: skip
IN1K_ORDER = ["resnet50", "vit_b16", "convnext_b", "dino_vitb16", "mae_vitb16",
              "fcmae_convnextv2_b", "swav_resnet50", "mugs_vitb16"]  # fmt: skip
IN1K_SWEEP = ",".join(f"in1k/{m}" for m in IN1K_ORDER)

EXPERIMENTS: dict[str, dict[str, Any]] = {
    "quickstart": {**QUICKSTART, "name": "quickstart", "logger.kind": "wandb", "sweep": {}},
    "smoke": {**SMOKE, "sweep": {}},
    "lab/augmentation": {**LAB, "name": "lab/augmentation",
                         "sweep": {"aug": "none,rrc_flip", "seed": "0,1,2"}},
    "lab/class_count": {**LAB, "name": "lab/class_count", "data.samples_per_class": 1000,
                        "sweep": {"data.classes": "10,50", "seed": "0,1,2"}},
    "lab/depth": {**LAB, "name": "lab/depth", "sweep": {"model": "vggm11,vggm17", "seed": "0,1,2"}},
    "lab/resolution": {**LAB, "name": "lab/resolution",
                       "sweep": {"data.resolution": "32,64", "seed": "0,1,2"}},
    "lab/samples_per_class": {**LAB, "name": "lab/samples_per_class",
                              "sweep": {"data.samples_per_class": "200,500,1000",
                                        "seed": "0,1,2"}},
    "lab/smoke_sweep": {**SMOKE, "name": "lab/smoke_sweep",
                        "sweep": {"model": "vggm11,vggm11_dagger", "seed": "0,1"}},
    "paper/main_grid": MAIN_GRID,
    "paper/architecture": MAIN_GRID,  # the architecture study is the main grid
    "paper/stem": MAIN_GRID,  # and so is the stem study
    "paper/augmentation": {**PAPER, **VGGM11_FULL, "name": "paper/augmentation",
                           "sweep": {"aug": "none,rrc_flip", "model": ARCHITECTURES,
                                     "data.resolution": "32,224"}},
    # 10,000 images whatever the class count: a subset, trained with the subset recipe.
    "paper/class_count": {**PAPER, "name": "paper/class_count", "model.name": "vggm11",
                          "data.resolution": 32, "data.samples_per_class": 100,
                          "optim.lr": 8e-3, "optim.batch_size": 512, "optim.epochs": 100,
                          "sweep": {"data.classes": "10,50,100", "aug": "none,rrc_flip"}},
    # CIFAR-100 first (swept with CIFAR-10): the CIFAR lr and CIFAR's own mean/std.
    "paper/id_dataset": {**PAPER, **VGGM11_FULL, "name": "paper/id_dataset",
                         "data.name": "cifar100", "optim.lr": 1e-2, "data.norm": "cifar100",
                         "data.resolution": 32,
                         "sweep": {"data": "cifar100,cifar10",
                                   "model": "vggm11,vggm17,vggm11_dagger,vggm17_dagger",
                                   "aug": "none,rrc_flip"}},
    "paper/imagenet1k": {**PAPER, "name": "paper/imagenet1k", "checkpoint": "pretrained",
                         "data.resolution": 224, "sweep": {"model": IN1K_SWEEP}},
    "paper/resolution": {**PAPER, **VGGM11_FULL, "name": "paper/resolution",
                         "sweep": {"model": "vggm17,resnet18,vit_t_plus",
                                   "data.resolution": "64,128", "aug": "none,rrc_flip"}},
    "paper/samples_per_class": {**PAPER, "name": "paper/samples_per_class",
                                "model.name": "vggm11", "data.resolution": 32,
                                "data.classes": 100, "optim.lr": 6e-3,
                                "sweep": {"data.samples_per_class": "100,200,500,700",
                                          "aug": "none,rrc_flip"}},
    # The continual study (tunnellab.continual): its recipe, written out from the paper's App. A.7.
    "lab/continual": {"name": "lab/continual", "model.name": "resnet18", "model.width": 0.125,
                      "data.resolution": 32, "data.classes": 10, "data.samples_per_class": 500,
                      "optim.lr": 5e-3, "optim.epochs": 12, "optim.batch_size": 128,
                      "optim.label_smoothing": 0.1, "logger.kind": "csv", "ood.name": "none",
                      "continual.tasks": ["1-5", "6-10"], "continual.finetune.epochs": 10,
                      "sweep": {"seed": "0,1,2"}},
    "paper/continual": {"name": "paper/continual", "data.name": "imagenet100",
                        "model.name": "resnet18", "aug.name": "rrc_flip", "probe.name": "paper",
                        "trainer.accelerator": "gpu", "logger.kind": "wandb", "ood.name": "none",
                        "optim.lr": 1e-2, "optim.weight_decay": 0.05, "optim.batch_size": 512,
                        "optim.epochs": 50, "optim.warmup_epochs": 5.0,
                        "optim.label_smoothing": 0.1, "continual.tasks": ["1-50", "51-100"],
                        "continual.mixing.mixup_p": 0.6, "continual.mixing.mixup_alpha": 0.1,
                        "continual.mixing.cutmix_p": 0.4, "continual.mixing.cutmix_alpha": 1.0,
                        "continual.finetune.lr": 0.01, "continual.finetune.weight_decay": 0.05,
                        "continual.finetune.batch_size": 512, "continual.finetune.epochs": 50,
                        "continual.finetune.milestones": [20, 40],
                        "continual.finetune.gamma": 0.1, "continual.tunnel_start": "own",
                        "continual.paper_tunnel_starts.32": 14,
                        "continual.paper_tunnel_starts.224": 15,
                        "sweep": {"data.resolution": "32,224"}},
    # The four VGGm† backbones of the released results: 32² only.
    "paper/spatial_reduction": {**PAPER, **VGGM11_FULL, "name": "paper/spatial_reduction",
                                "data.resolution": 32,
                                "sweep": {"model": "vggm11_dagger,vggm17_dagger",
                                          "aug": "none,rrc_flip"}},
}  # fmt: skip


def _check(cfg: DictConfig, expected: dict[str, Any], label: str) -> None:
    """Each expected dotted key of ``cfg`` (resolved); a list for a mapping means its keys."""
    model = meta = None
    for key, want in expected.items():
        if key == "sweep":
            got: Any = dict(cfg.hydra.sweeper.params or {})
        elif key == "taps" or key.startswith("meta."):
            if model is None:
                model = instantiate(cfg.model)
                meta = model.meta
            got = len(model.taps("paper")) if key == "taps" else meta[key.removeprefix("meta.")]
        else:
            got = OmegaConf.select(cfg, key, default=MISSING, throw_on_missing=True)
            assert got is not MISSING, f"{label}: {key} is not set"
            if isinstance(got, DictConfig):
                got = list(got.keys())
            elif not isinstance(got, str | int | float | bool | type(None)):
                got = OmegaConf.to_container(got)
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-12), f"{label}: {key}={got}, want {want}"
        else:
            assert got == want and type(got) is type(want), f"{label}: {key}={got!r}, want {want!r}"


def test_every_file_has_expectations():
    files = {f"{g}={o}" for g in GROUPS for o in _options(g)}
    assert sorted(files - set(EXPECTED)) == [], "add the new files' values to EXPECTED"
    assert sorted(set(EXPECTED) - files) == [], "EXPECTED names files that do not exist"
    assert sorted(_experiments()) == sorted(EXPERIMENTS)


@pytest.mark.parametrize("override", sorted(EXPECTED), ids=str)
def test_every_group_option_resolves_to_its_values(override):
    cfg = compose_config([override, *REQUIRED.get(override, [])])
    _check(cfg, EXPECTED[override], override)


@pytest.mark.parametrize("experiment", sorted(EXPERIMENTS))
def test_every_experiment_sets_what_it_promises(experiment):
    cfg = compose_config([f"experiment={experiment}"], return_hydra_config=True)
    _check(cfg, EXPERIMENTS[experiment], experiment)
    if experiment in ("paper/architecture", "paper/stem"):
        return  # the main grid's sweep, checked point by point there
    # Every value each sweep dimension names composes on its own (the sweep will run it).
    for key, values in dict(cfg.hydra.sweeper.params or {}).items():
        for value in str(values).split(","):
            point = compose_config([f"experiment={experiment}", f"{key}={value}"])
            chosen = OmegaConf.select(point, key)
            if isinstance(chosen, DictConfig):  # a group: the option's own name
                chosen = chosen.name if not value.startswith("in1k/") else value
            assert str(chosen) == value, (experiment, key, value, chosen)


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
