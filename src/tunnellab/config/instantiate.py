"""``hydra.utils.instantiate`` that lets a user-fixable error surface as itself."""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tunnellab.errors import TunnellabError

# Keys a model or dataset node declares for the recipes and stages, not for its builder:
# model.family (which recipe row), data.norm (which mean/std).
CONFIG_ONLY_KEYS = ("family", "norm")


def builder_node(node: DictConfig) -> DictConfig:
    """``node`` as its ``_target_`` takes it: without :data:`CONFIG_ONLY_KEYS` (resolved)."""
    if not any(key in node for key in CONFIG_ONLY_KEYS):
        return node
    plain = OmegaConf.to_container(node, resolve=True)
    for key in CONFIG_ONLY_KEYS:
        plain.pop(key, None)
    return OmegaConf.create(plain)


def instantiate_node(node: DictConfig, **kwargs: Any) -> Any:
    """Build ``node``'s ``_target_``; a :class:`TunnellabError` inside is re-raised unwrapped."""
    try:
        return instantiate(builder_node(node), **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, TunnellabError):
            raise cause from None
        raise
