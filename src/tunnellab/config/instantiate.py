"""``hydra.utils.instantiate`` that lets a user-fixable error surface as itself."""

from __future__ import annotations

from typing import Any

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from tunnellab.errors import TunnellabError


def instantiate_node(node: DictConfig, **kwargs: Any) -> Any:
    """Build ``node``'s ``_target_``; a :class:`TunnellabError` inside is re-raised unwrapped."""
    try:
        return instantiate(node, **kwargs)
    except InstantiationException as err:
        cause = err.__cause__
        if isinstance(cause, TunnellabError):
            raise cause from None
        raise
