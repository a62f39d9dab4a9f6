"""A small timm-style registry of backbone builders.

Builders are plain functions ``fn(num_classes, width=1.0, **kwargs) -> nn.Module`` decorated
with :func:`register_model`; they register under their function name. Importing
``tunnellab.models`` imports every architecture module, which fills the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from torch import nn

__all__ = [
    "count_parameters",
    "create_model",
    "list_models",
    "register_model",
    "scale_channels",
]

Builder = TypeVar("Builder", bound=Callable[..., nn.Module])

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Builder) -> Builder:
    """Register a builder under ``fn.__name__`` and return it unchanged."""
    name = fn.__name__
    previous = _REGISTRY.get(name)
    if previous is not None and (previous.__module__, previous.__qualname__) != (
        fn.__module__,
        fn.__qualname__,
    ):
        raise ValueError(
            f"model '{name}' is already registered by {previous.__module__}.{previous.__qualname__}"
        )
    _REGISTRY[name] = fn
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, num_classes: int, width: float = 1.0, **kwargs) -> nn.Module:
    """Build the registered model ``name`` with ``num_classes`` outputs and width multiplier."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model '{name}'; available: {', '.join(list_models())}") from None
    return builder(num_classes=num_classes, width=width, **kwargs)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters (shared parameters counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def scale_channels(channels: int, width: float) -> int:
    """Channel count under a width multiplier: ``max(1, round(channels * width))``."""
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return max(1, round(channels * width))
