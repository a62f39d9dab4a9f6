"""Backbones (VGGm, ResNet, ViT) and the taps where linear probes read them.

Importing this package registers every architecture with :mod:`tunnellab.models.registry`.
"""

from tunnellab.models import resnet, vggm, vit
from tunnellab.models.registry import (
    count_parameters,
    create_model,
    list_models,
    register_model,
    scale_channels,
)
from tunnellab.models.resnet import ResNet, resnet18, resnet34
from tunnellab.models.taps import (
    TAP_KINDS,
    Tap,
    TapRecorder,
    pool_feature,
    resolve_tap,
    tap_dim,
    tap_dims,
)
from tunnellab.models.vggm import VGGm, vggm11, vggm11_dagger, vggm17, vggm17_dagger
from tunnellab.models.vit import VisionTransformer, vit_t, vit_t_plus

__all__ = [
    "TAP_KINDS",
    "ResNet",
    "Tap",
    "TapRecorder",
    "VGGm",
    "VisionTransformer",
    "count_parameters",
    "create_model",
    "list_models",
    "pool_feature",
    "register_model",
    "resnet",
    "resnet18",
    "resnet34",
    "resolve_tap",
    "scale_channels",
    "tap_dim",
    "tap_dims",
    "vggm",
    "vggm11",
    "vggm11_dagger",
    "vggm17",
    "vggm17_dagger",
    "vit",
    "vit_t",
    "vit_t_plus",
]
