"""Objects from config nodes: ``_target_`` builds and plain dataclasses, below every layer that
uses them (the pipeline, pretraining, the command line), so none of them needs ``config/``."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from tunnellab.errors import TunnellabError

T = TypeVar("T")

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


def dataclass_from_node(cls: type[T], node: Any) -> T:
    """The dataclass ``cls`` filled from the keys of ``node`` that name its fields.

    Values are resolved (lists become tuples where the field is a tuple); keys ``cls`` does not
    have are ignored and fields ``node`` lacks keep their defaults.
    """
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init or f.name not in node:
            continue
        value = node[f.name]
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        if typing.get_origin(hints[f.name]) is tuple and isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)
