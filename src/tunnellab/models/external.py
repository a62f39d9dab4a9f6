"""Any timm or torchvision classifier as a tunnellab backbone, with its taps discovered.

``timm_backbone`` / ``torchvision_backbone`` build the model with ``num_classes`` outputs, load
weights when asked (``weights=None``: random init; a ``.pth``/``.pt``/``.bin``/``.safetensors``
file; ``"cache"``: the user's existing timm/Hugging Face or torch hub cache, never the network;
:mod:`tunnellab.models.external_weights`) and wrap it in :class:`ExternalBackbone`, which offers
the paper models' interface: ``taps(kind)``, ``meta``, ``head`` and ``forward``. Its taps are
found by :mod:`tunnellab.models.tap_discovery` (``tap_discovery``: ``blocks`` or ``conv``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.ops.misc import Permute

from tunnellab.errors import ConfigError
from tunnellab.models.external_weights import (
    _strip_prefixes,
    load_weights,
    read_state_dict,
    timm_cached_weights,
    torchvision_cached_weights,
    weights_file,
)
from tunnellab.models.tap_discovery import TAP_DISCOVERY, discover_taps
from tunnellab.models.taps import Tap, check_tap_kind

__all__ = [
    "ExternalBackbone",
    "timm_backbone",
    "timm_model_names",
    "torchvision_backbone",
    "torchvision_model_names",
]

_FAMILIES = {"visiontransformer": "vit", "swintransformer": "swin"}  # else the class name


# ------------------------------------------------------------------------------ names ---
@cache
def timm_model_names() -> frozenset[str]:
    """Every timm architecture name, with and without pretrained tags (``resnet50.tv_in1k``)."""
    import timm

    return frozenset(timm.list_models()) | frozenset(timm.list_models(pretrained=True))


@cache
def torchvision_model_names() -> frozenset[str]:
    """torchvision's classification models (detection, video, ... are not backbones here)."""
    import torchvision

    return frozenset(torchvision.models.list_models(module=torchvision.models))


# ---------------------------------------------------------------------------- wrapper ---
class ExternalBackbone(nn.Module):
    """A third-party classifier (child ``model``) with discovered taps, ``meta`` and ``head``."""

    def __init__(
        self,
        model: nn.Module,
        name: str,
        source: str,
        tap_discovery: str = "blocks",
        img_size: int = 224,
        head_path: str | None = None,
    ) -> None:
        super().__init__()
        if tap_discovery not in TAP_DISCOVERY:
            raise ConfigError(
                f"'model.tap_discovery={tap_discovery}' is not allowed; "
                f"model.tap_discovery must be one of: {', '.join(TAP_DISCOVERY)}."
            )
        self.model = model
        self.to_nchw = Permute([0, 3, 1, 2])
        self.head_path = head_path or _classifier_path(model)
        self._taps = discover_taps(self, tap_discovery, img_size, name)
        cls = type(model).__name__.lower()
        self.meta: dict[str, Any] = {
            "name": name,
            "source": source,
            "family": _FAMILIES.get(cls, cls),
            "depth": len(self._taps),
            "stem": _stem_kernel(model),
            "spatial_reduction": None,
            "tap_discovery": tap_discovery,
        }

    @property
    def head(self) -> nn.Module:
        """The classifier of the wrapped model."""
        return self.model.get_submodule(self.head_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def taps(self, kind: str = "paper") -> list[Tap]:
        """The discovered taps (``paper`` and ``blocks`` both mean ``meta['tap_discovery']``)."""
        check_tap_kind(kind)
        return list(self._taps)


def _stem_kernel(model: nn.Module) -> int | None:
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return None if conv is None else int(conv.kernel_size[0])


def _module_path(model: nn.Module, target: nn.Module) -> str | None:
    return next((name for name, m in model.named_modules() if m is target and name), None)


def _classifier_path(model: nn.Module) -> str:
    """timm's ``get_classifier()``, else the last Linear (or conv classifier) of the model."""
    get_classifier = getattr(model, "get_classifier", None)
    if callable(get_classifier) and (path := _module_path(model, get_classifier())):
        return path
    for kind in (nn.Linear, nn.Conv2d):
        paths = [name for name, m in model.named_modules() if isinstance(m, kind)]
        if paths:
            return paths[-1]
    raise ConfigError(f"no classifier found in {type(model).__name__}")


# ------------------------------------------------------------------------- builders ---
def _build(factory: Callable[..., nn.Module], size_key: str, size: int, **kwargs: Any) -> nn.Module:
    """``factory(**kwargs, size_key=size)``, or without the size when the model has none."""
    try:
        return factory(**kwargs, **{size_key: size})
    except TypeError as err:
        if size_key not in str(err):
            raise
    return factory(**kwargs)


def _weights_path(weights: str, cached: Callable[[str], Path], name: str) -> Path:
    return cached(name) if weights == "cache" else weights_file(weights)


def timm_backbone(
    name: str,
    num_classes: int,
    weights: str | None = None,
    tap_discovery: str = "blocks",
    img_size: int = 224,
    drop_path_rate: float = 0.0,
    width: float = 1.0,
) -> ExternalBackbone:
    """A timm model with ``num_classes`` outputs (``img_size`` passed when the model takes it).

    ``width`` exists so configs that narrow paper models compose; config validation keeps it 1.
    """
    import timm

    extra = {"drop_path_rate": drop_path_rate} if drop_path_rate else {}
    model = _build(
        timm.create_model, "img_size", img_size, model_name=name, num_classes=num_classes, **extra
    )
    head_path = _classifier_path(model)
    if weights is not None:
        path = _weights_path(weights, timm_cached_weights, name)
        state = _strip_prefixes(read_state_dict(path), set(model.state_dict()))
        filter_fn = getattr(sys.modules[type(model).__module__], "checkpoint_filter_fn", None)
        if filter_fn is not None:
            state = filter_fn(state, model)
        load_weights(model, state, head_path, str(path))
    return ExternalBackbone(model, name, "timm", tap_discovery, img_size, head_path)


def torchvision_backbone(
    name: str,
    num_classes: int,
    weights: str | None = None,
    tap_discovery: str = "blocks",
    img_size: int = 224,
    width: float = 1.0,
) -> ExternalBackbone:
    """A torchvision classification model with ``num_classes`` outputs (``width`` must be 1)."""
    import torchvision
    from torchvision.models.vision_transformer import VisionTransformer, interpolate_embeddings

    model = _build(
        torchvision.models.get_model, "image_size", img_size, name=name, num_classes=num_classes
    )
    head_path = _classifier_path(model)
    if weights is not None:
        path = _weights_path(weights, torchvision_cached_weights, name)
        state = _strip_prefixes(read_state_dict(path), set(model.state_dict()))
        if isinstance(model, VisionTransformer) and "encoder.pos_embedding" in state:
            state = dict(interpolate_embeddings(model.image_size, model.patch_size, state))
        load_weights(model, state, head_path, str(path))
    return ExternalBackbone(model, name, "torchvision", tap_discovery, img_size, head_path)
