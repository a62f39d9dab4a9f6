"""Which entries of an OOD suite a run uses, given its ID dataset.

An entry may carry ``only_for`` (ID dataset names it is used with; empty = all) and ``skip_for``
(ID dataset names it is left out for). ``ood=paper8`` uses them for the paper's rule: CIFAR-10 is
dropped for ImageNet models, and a CIFAR model uses the other CIFAR.
"""

from __future__ import annotations

from omegaconf import DictConfig, OmegaConf

from tunnellab.errors import ConfigError

SELECTION_KEYS = ("only_for", "skip_for")


def used_for(node: DictConfig, id_dataset: str) -> bool:
    """Whether an OOD entry applies to a run whose ID dataset is ``id_dataset``."""
    only = list(node.get("only_for") or [])
    skip = list(node.get("skip_for") or [])
    return (not only or id_dataset in only) and id_dataset not in skip


def without_selection_keys(node: DictConfig) -> DictConfig:
    """The entry as its builder takes it (interpolations resolved against the whole config)."""
    plain = OmegaConf.to_container(node, resolve=True)
    for key in SELECTION_KEYS:
        plain.pop(key, None)
    return OmegaConf.create(plain)


def ood_entries(cfg: DictConfig) -> dict[str, DictConfig]:
    """The OOD entries of ``cfg.ood`` this run uses, in suite order, ready to instantiate."""
    id_dataset = str(cfg.data.name)
    for name, node in cfg.ood.datasets.items():
        if "_target_" not in node:
            raise ConfigError(
                f"'ood.datasets.{name}' names no dataset builder (_target_): settings for an entry "
                f"that suite '{cfg.ood.name}' does not have? Remove them (~ood.datasets.{name}) "
                "or pick the suite they belong to."
            )
    return {
        str(name): without_selection_keys(node)
        for name, node in cfg.ood.datasets.items()
        if used_for(node, id_dataset)
    }
