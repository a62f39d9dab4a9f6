"""ResNet-18 / ResNet-34 in the unmodified torchvision layout, with a width multiplier.

7x7 stride-2 stem + 3x3 max-pool at every resolution (spatial reduction phi = 0.25), torchvision
``BasicBlock`` stages, global average pool, ``fc``. Module names, construction order and
initialisation follow ``torchvision.models.resnet.ResNet`` (last-BN zero init off), so at width
1 the state dict, and for the same seed the weights, equal torchvision's ``resnet18/34``. The
classifier is also reachable as ``head`` (an alias of ``fc``, not a second module). Parameter
counts with 100 classes at width 1: ResNet-18 11,227,812; ResNet-34 21,335,972.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, conv1x1

from tunnellab.models.registry import register_model, scale_channels
from tunnellab.models.taps import Tap, check_tap_kind

__all__ = ["RESNET_BLOCKS", "ResNet", "resnet18", "resnet34"]

RESNET_BLOCKS: dict[int, tuple[int, int, int, int]] = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3)}
"""BasicBlocks per stage, keyed by depth."""


class ResNet(nn.Module):
    """torchvision's BasicBlock ResNet with channels ``round(64 * 2**i * width)``."""

    def __init__(
        self,
        layers: Sequence[int],
        num_classes: int,
        width: float = 1.0,
        depth: int | None = None,
        name: str = "resnet",
    ) -> None:
        super().__init__()
        planes = [scale_channels(64 * 2**i, width) for i in range(4)]
        self.inplanes = scale_channels(64, width)
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(planes[0], layers[0])
        self.layer2 = self._make_layer(planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * BasicBlock.expansion, num_classes)
        self.blocks_per_stage = tuple(layers)
        self.meta: dict = {
            "name": name,
            "family": "resnet",
            "depth": depth if depth is not None else 2 * sum(layers) + 2,
            "stem": 7,
            "spatial_reduction": 0.25,
            "width": width,
        }
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * BasicBlock.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * BasicBlock.expansion, stride),
                nn.BatchNorm2d(planes * BasicBlock.expansion),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * BasicBlock.expansion
        layers += [BasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    @property
    def head(self) -> nn.Module:
        """The classifier (alias of ``fc``)."""
        return self.fc

    def __setattr__(self, name: str, value: Any) -> None:
        # nn.Module.__setattr__ bypasses property setters; route `model.head = m` to `fc`.
        super().__setattr__("fc" if name == "head" else name, value)

    def block_names(self) -> list[str]:
        """Dotted paths of every BasicBlock, in forward order (``layer1.0`` ...)."""
        return [
            f"layer{stage}.{index}"
            for stage, count in enumerate(self.blocks_per_stage, start=1)
            for index in range(count)
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = torch.flatten(self.avgpool(x), 1)
        return self.fc(x)

    def taps(self, kind: str = "paper") -> list[Tap]:
        """``paper`` (as the released code ran it): the input of ``conv1`` (the image) and the
        input of every block's ``conv1`` and ``conv2``; the last block's output is not read.
        ``blocks``: the stem output (after max-pool) and every block's output, last included."""
        check_tap_kind(kind)
        if kind == "paper":
            taps = [Tap("conv1:in", "conv1", "input")]
            for block in self.block_names():
                taps.append(Tap(f"{block}.conv1:in", f"{block}.conv1", "input"))
                taps.append(Tap(f"{block}.conv2:in", f"{block}.conv2", "input"))
            return taps
        return [Tap("stem", "maxpool", "output")] + [
            Tap(block, block, "output") for block in self.block_names()
        ]


@register_model
def resnet18(num_classes: int, width: float = 1.0) -> ResNet:
    """ResNet-18: 17 paper taps."""
    return ResNet(RESNET_BLOCKS[18], num_classes, width, depth=18, name="resnet18")


@register_model
def resnet34(num_classes: int, width: float = 1.0) -> ResNet:
    """ResNet-34: 33 paper taps."""
    return ResNet(RESNET_BLOCKS[34], num_classes, width, depth=34, name="resnet34")
