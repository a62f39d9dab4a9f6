"""VGGm: the VGG-13 / VGG-19 conv stacks with BatchNorm, global average pool, one Linear head.

VGGm-11 (10 convs) and VGGm-17 (16 convs) max-pool after each of the 5 stages (spatial
reduction of the stem stage phi = 0.5); the dagger variants drop the max-pools of the first
two stages (phi = 1). No FC6/FC7. Parameter counts with 100 classes at width 1: VGGm-11
9,462,180; VGGm-17 20,086,692 (the daggers are the same; pools have no parameters).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from tunnellab.models.registry import register_model, scale_channels
from tunnellab.models.taps import Tap, check_tap_kind

__all__ = ["VGGM_STAGES", "ConvBlock", "VGGm", "vggm11", "vggm11_dagger", "vggm17", "vggm17_dagger"]

VGGM_STAGES: dict[int, tuple[tuple[int, ...], ...]] = {
    11: ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),  # VGG-13 convs
    17: ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),  # VGG-19 convs
}
"""Output channels of each conv, per stage, keyed by the paper's nominal depth."""


class ConvBlock(nn.Module):
    """conv3x3 (pad 1, with bias) -> BatchNorm -> ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
        self.bn = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class VGGm(nn.Module):
    """A VGG conv stack (``features``), global average pool, and a single Linear ``head``.

    Modules: ``features.block{i}`` (i = 1..n_convs, each a :class:`ConvBlock` with ``conv``,
    ``bn``, ``relu``) and ``features.pool{s}`` (s = stage 1..5, absent where the stage is
    not pooled), then ``avgpool`` and ``head``.
    """

    def __init__(
        self,
        stages: Sequence[Sequence[int]],
        num_classes: int,
        width: float = 1.0,
        pooled_stages: Sequence[bool] = (True, True, True, True, True),
        depth: int | None = None,
        name: str = "vggm",
    ) -> None:
        super().__init__()
        if len(pooled_stages) != len(stages):
            raise ValueError("pooled_stages needs one flag per stage")
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels, index = 3, 0
        for stage, (convs, pooled) in enumerate(zip(stages, pooled_stages, strict=True), start=1):
            for channels in convs:
                index += 1
                out_channels = scale_channels(channels, width)
                layers[f"block{index}"] = ConvBlock(in_channels, out_channels)
                in_channels = out_channels
            if pooled:
                layers[f"pool{stage}"] = nn.MaxPool2d(kernel_size=2, stride=2)
        self.n_convs = index
        self.features = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(in_channels, num_classes)
        self.meta: dict = {
            "name": name,
            "family": "vggm",
            "depth": depth if depth is not None else self.n_convs + 1,
            "stem": 3,
            "spatial_reduction": 0.5 if pooled_stages[0] else 1.0,
            "width": width,
        }
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's VGG init: Kaiming-normal convs, unit BN, N(0, 0.01) head."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x)).flatten(1)
        return self.head(x)

    def taps(self, kind: str = "paper") -> list[Tap]:
        """``paper``: each Conv2d output, before BN (``conv{i}``); ``blocks``: each block's
        post-ReLU output (``block{i}``). One tap per conv either way."""
        check_tap_kind(kind)
        indices = range(1, self.n_convs + 1)
        if kind == "paper":
            return [Tap(f"conv{i}", f"features.block{i}.conv", "output") for i in indices]
        return [Tap(f"block{i}", f"features.block{i}", "output") for i in indices]


def _build(depth: int, num_classes: int, width: float, dagger: bool, name: str) -> VGGm:
    pooled = (not dagger, not dagger, True, True, True)
    return VGGm(VGGM_STAGES[depth], num_classes, width, pooled, depth=depth, name=name)


@register_model
def vggm11(num_classes: int, width: float = 1.0) -> VGGm:
    """VGGm-11: VGG-13 conv stack, 10 probed convs."""
    return _build(11, num_classes, width, dagger=False, name="vggm11")


@register_model
def vggm17(num_classes: int, width: float = 1.0) -> VGGm:
    """VGGm-17: VGG-19 conv stack, 16 probed convs."""
    return _build(17, num_classes, width, dagger=False, name="vggm17")


@register_model
def vggm11_dagger(num_classes: int, width: float = 1.0) -> VGGm:
    """VGGm†-11: VGGm-11 without the max-pools of stages 1 and 2."""
    return _build(11, num_classes, width, dagger=True, name="vggm11_dagger")


@register_model
def vggm17_dagger(num_classes: int, width: float = 1.0) -> VGGm:
    """VGGm†-17: VGGm-17 without the max-pools of stages 1 and 2."""
    return _build(17, num_classes, width, dagger=True, name="vggm17_dagger")
