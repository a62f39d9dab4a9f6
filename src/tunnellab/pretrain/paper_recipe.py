"""Resolvers that read the paper's recipe tables for the composed job (``optim=paper``,
``probe=paper``).

The numbers live in YAML only: ``optim.table`` (conf/optim/paper.yaml) and ``probe.table``
(conf/probe/paper.yaml) hold one row per ``model.family``; a cell given per model is a
``{model.name: value}`` map. ``${paper_recipe:KEY}`` and ``${paper_probe:KEY}`` pick this job's
row by ``model.family`` and its column by the ID dataset, subset and augmentation, so a sweep
over ``model`` (or ``data``, ``aug``) resolves each job's recipe by itself; ``--cfg job
--resolve`` prints the numbers a job uses. docs/protocol.md#pretraining-recipe gives the sources.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from tunnellab.errors import ConfigError

CIFAR = ("cifar10", "cifar100")
PRETRAIN_KEYS = ("lr", "batch_size", "epochs", "repeated_aug", "decay", "precision")


def is_subset(data: DictConfig) -> bool:
    """An ImageNet-100 class or sample subset (the paper trains those with their own recipe)."""
    if data.get("name") != "imagenet100":
        return False
    return data.get("classes", 100) != 100 or data.get("samples_per_class") is not None


def family_row(root: DictConfig, group: str) -> DictConfig:
    """The row of ``<group>.table`` for the job's ``model.family``."""
    model = root.model
    family = model.get("family")
    table = root[group].get("table") or {}
    if family is None:
        raise ConfigError(
            f"'model.family' is not set for model '{model.name}', and the paper's {group} recipe "
            f"picks its row by it; set model.family to one of: {', '.join(table) or 'none'}."
        )
    if family not in table:
        raise ConfigError(
            f"'{group}.table' has no row for 'model.family={family}' (model '{model.name}'); "
            f"its rows are: {', '.join(table) or 'none (use {group}=paper)'}."
        )
    return table[family]


def cell(root: DictConfig, group: str, column: str) -> Any:
    """One cell of the job's row; a ``{model name: value}`` cell gives the job model's value."""
    row = family_row(root, group)
    where = f"{group}.table.{root.model.family}"
    if column not in row:
        raise ConfigError(f"'{where}' has no column '{column}'; it has: {', '.join(row)}.")
    value = row[column]
    if isinstance(value, DictConfig):
        name = str(root.model.name)
        if name not in value:
            raise ConfigError(
                f"'{where}.{column}' gives no value for model '{name}'; it has: {', '.join(value)}."
            )
        value = value[name]
    return value


def pretrain_column(key: str, root: DictConfig) -> str:
    """The table column the pretraining value ``key`` comes from for this job."""
    augmented = root.aug.name != "none"
    if key == "lr":
        if root.data.get("name") in CIFAR:
            return "lr_cifar"
        return "lr_subset" if is_subset(root.data) else "lr"
    if key == "epochs":
        if is_subset(root.data):
            return "epochs_subset"
        return "epochs_aug" if augmented else "epochs"
    return key


def pretrain_value(key: str, root: DictConfig) -> Any:
    """One value of the paper's pretraining recipe for the composed job ``root``."""
    if key not in PRETRAIN_KEYS:
        raise ConfigError(
            f"'${{paper_recipe:{key}}}' names no recipe value; use one of: "
            + ", ".join(PRETRAIN_KEYS)
            + "."
        )
    if key == "repeated_aug" and root.aug.name == "none":
        return 0  # repeated augmentation only where there is augmentation
    return cell(root, "optim", pretrain_column(key, root))


def probe_value(key: str, root: DictConfig) -> Any:
    """One value of the paper's probe recipe for the composed job ``root``."""
    return cell(root, "probe", key)


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
