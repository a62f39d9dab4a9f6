"""The paper's pretraining and probing recipes as data, read by ``optim=paper`` / ``probe=paper``.

PAPER.md, "Pretraining recipe" and "Probe recipe": the learning rate, batch size and epochs depend
on the architecture, the ID dataset, whether the run is a class/sample subset, and augmentation.
Config files ask for a value with the ``paper_recipe`` resolver, so a sweep over ``model`` (or
``data``, ``aug``) picks each job's recipe by itself.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

# (lr, batch, epochs without augmentation, epochs with augmentation)
_CNN_BATCH = 512
_VIT_BATCH = 96
_EPOCHS = {
    "vggm11": (100, 70),
    "vggm17": (100, 100),
    "resnet18": (100, 80),
    "resnet34": (100, 100),
    "vit_t": (100, 40),
    "vit_t_plus": (100, 60),
}
_SUBSET_EPOCHS = (100, 100)
_PROBE = {
    "cnn": {"lr": 1e-3, "weight_decay": 0.0, "batch_size": 256},
    "vit": {"lr": 1e-2, "weight_decay": 1e-4, "batch_size": 512},
}
CIFAR = ("cifar10", "cifar100")


def _family(model: str) -> str:
    if model.startswith("vit"):
        return "vit"
    return "resnet" if model.startswith("resnet") else "vggm"


def _base_model(model: str) -> str:
    return model.removesuffix("_dagger")


def is_subset(data: DictConfig) -> bool:
    """An ImageNet-100 class or sample subset (the paper trains those with their own recipe)."""
    if data.get("name") != "imagenet100":
        return False
    return data.get("classes", 100) != 100 or data.get("samples_per_class") is not None


def pretrain_value(key: str, root: DictConfig) -> Any:
    """One field of the paper's pretraining recipe for the composed run ``root``."""
    model = _base_model(str(root.model.name))
    family = _family(model)
    subset = is_subset(root.data)
    augmented = root.aug.name != "none"
    if key == "lr":
        if family == "vit":
            return 8e-4
        if family == "resnet":
            return 1e-2
        if root.data.get("name") in CIFAR:
            return 1e-2
        return 8e-3 if subset else 6e-3
    if key == "batch_size":
        return _VIT_BATCH if family == "vit" else _CNN_BATCH
    if key == "epochs":
        epochs = _SUBSET_EPOCHS if subset else _EPOCHS.get(model, (100, 100))
        return epochs[int(augmented)]
    raise KeyError(f"paper_recipe has no pretraining value '{key}'")


def probe_value(key: str, root: DictConfig) -> Any:
    """One field of the paper's probe recipe (CNN or ViT) for the composed run ``root``."""
    kind = "vit" if _family(_base_model(str(root.model.name))) == "vit" else "cnn"
    if key not in _PROBE[kind]:
        raise KeyError(f"paper_probe has no value '{key}'")
    return _PROBE[kind][key]


def register_resolvers() -> None:
    """``${paper_recipe:lr}``, ``${paper_probe:lr}`` and ``${floordiv:10000,${data.classes}}``."""
    if not OmegaConf.has_resolver("paper_recipe"):
        OmegaConf.register_new_resolver(
            "paper_recipe", lambda key, _root_: pretrain_value(key, _root_)
        )
    if not OmegaConf.has_resolver("paper_probe"):
        OmegaConf.register_new_resolver("paper_probe", lambda key, _root_: probe_value(key, _root_))
    if not OmegaConf.has_resolver("floordiv"):
        OmegaConf.register_new_resolver("floordiv", lambda a, b: int(a) // int(b))
