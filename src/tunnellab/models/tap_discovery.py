"""Which modules of a timm or torchvision model become taps (``model.tap_discovery``).

Tap discovery (``tap_discovery``), settled by one dry forward at ``img_size``:

- ``blocks``: the children of every *block container* (a module holding at least two modules of
  one class with more than one weight layer each: ``layerN.M``, ``blocks.N``,
  ``stages.N.blocks.M``, ``encoder.layers.*``, ``features.N.M``, ``inception3a``, ...), descending
  through stages and skipping single-layer units (stems, downsamples); else the activations of
  flat conv stacks (VGG); else timm's ``feature_info`` stages.
- ``conv``: the output of every ``Conv2d``.

Only modules called exactly once per forward with a ``(B, C, H, W)``, ``(B, H, W, C)`` or
``(B, T, D)`` tensor output become taps, in call order. Maps are pooled to 2x2 (``avg2x2``; NHWC
maps are permuted to NCHW first by the ``to_nchw`` transform), tokens are averaged (``token_mean``).
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from tunnellab.errors import ConfigError
from tunnellab.models.taps import Tap

__all__ = ["TAP_DISCOVERY", "block_paths", "candidate_paths", "discover_taps"]

#: ``tap_discovery``: children of block containers, or every ``Conv2d`` output (module docstring)
TAP_DISCOVERY: tuple[str, ...] = ("blocks", "conv")

_CONTAINERS = (nn.Sequential, nn.ModuleList)
_WEIGHT_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)
_ACTIVATIONS = (nn.ReLU, nn.GELU, nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.ReLU6)


def _composite(m: nn.Module) -> bool:
    return next(m.children(), None) is not None


def _is_unit(m: nn.Module) -> bool:
    """At most one weight layer (conv-norm-act, a downsample, a pool): part of a block."""
    return sum(isinstance(d, _WEIGHT_LAYERS) for d in m.modules()) <= 1


def _is_container(m: nn.Module) -> bool:
    """A module whose children are blocks: a ``Sequential``/``ModuleList`` of blocks only, or any
    module with >= 2 blocks of one class (beside units such as a stem or downsample layers).

    A block is a composite child with more than one weight layer. Outside ``Sequential``/
    ``ModuleList`` a plain container child is not a block (a VGG's ``features`` and
    ``classifier``); ``ModuleDict`` children never are (their parent combines them: DenseNet).
    """
    if isinstance(m, nn.ModuleDict):
        return False
    plain = isinstance(m, _CONTAINERS)
    composite = [c for c in m.children() if _composite(c)]
    blocks = [c for c in composite if not _is_unit(c) and (plain or not isinstance(c, _CONTAINERS))]
    if plain and blocks and len(blocks) == len(composite):
        return True
    kinds = Counter(type(c) for c in blocks)
    return bool(kinds) and max(kinds.values()) >= 2


def _holds_container(m: nn.Module) -> bool:
    return any(_is_container(d) for d in m.modules() if d is not m)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def block_paths(module: nn.Module, prefix: str = "") -> list[str]:
    """Dotted paths of every block under ``module`` (see the module docstring), in tree order."""
    if _is_container(module):
        return _blocks_in(module, prefix)
    paths: list[str] = []
    for name, child in module.named_children():
        paths += block_paths(child, _join(prefix, name))
    return paths


def _blocks_in(container: nn.Module, prefix: str) -> list[str]:
    paths: list[str] = []
    for name, child in container.named_children():
        path = _join(prefix, name)
        if not _composite(child) or _is_unit(child):
            continue
        if _is_container(child) or _holds_container(child):
            paths += block_paths(child, path)
        else:
            paths.append(path)
    return paths


def _feature_info_paths(model: nn.Module) -> list[str]:
    info = getattr(model, "feature_info", None)
    if info is None:
        return []
    entries = info.info if hasattr(info, "info") else info
    return [e["module"] for e in entries if isinstance(e, dict) and e.get("module")]


def _flat_stack_paths(model: nn.Module) -> list[str]:
    """The activations of flat conv stacks (a Sequential of leaves with >= 2 convs: VGG)."""
    paths: list[str] = []
    for name, m in model.named_modules():
        leaves = isinstance(m, nn.Sequential) and not any(_composite(c) for c in m.children())
        if leaves and sum(isinstance(c, nn.Conv2d) for c in m.children()) >= 2:
            paths += [f"{name}.{n}" for n, c in m.named_children() if isinstance(c, _ACTIVATIONS)]
    return paths


def candidate_paths(model: nn.Module, mode: str) -> list[str]:
    """Module paths that may become taps under ``mode`` (before the dry-forward checks)."""
    if mode == "conv":
        return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    for finder in (block_paths, _flat_stack_paths, _feature_info_paths):
        paths = finder(model)
        if paths:
            return paths
    return []


@dataclass
class _Reading:
    calls: int = 0
    order: int = -1
    shape: tuple[int, ...] | None = None


def _dry_forward(model: nn.Module, paths: list[str], resolution: int) -> dict[str, _Reading]:
    """Call count, first-call order and output shape of each module on one zero image."""
    readings = {path: _Reading() for path in paths}
    counter = iter(range(sys.maxsize))

    def hook(path: str, module: nn.Module, args: Any, output: Any) -> None:
        reading = readings[path]
        reading.calls += 1
        if reading.calls == 1:
            reading.order = next(counter)
            reading.shape = tuple(output.shape) if isinstance(output, torch.Tensor) else None

    handles = [
        model.get_submodule(p).register_forward_hook(lambda m, a, o, p=p: hook(p, m, a, o))
        for p in paths
    ]
    was_training = model.training
    try:
        with torch.no_grad():
            param = next(model.parameters(), None)
            device = param.device if param is not None else None
            model.eval()(torch.zeros(1, 3, resolution, resolution, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return readings


def _layout(shape: tuple[int, ...], wider: tuple[int, ...] | None) -> str | None:
    """``nchw``, ``nhwc`` or ``tokens`` from an output shape (and one at a larger input)."""
    if len(shape) == 3:
        return "tokens"
    if len(shape) != 4:
        return None
    _, a, b, c = shape
    if wider is not None and len(wider) == 4:
        grew = [wider[i] != shape[i] for i in (1, 2, 3)]
        if grew == [False, True, True]:
            return "nchw"
        if grew == [True, True, False]:
            return "nhwc"
    if b == c and a != b:
        return "nchw"
    if a == b and c != a:
        return "nhwc"
    return None


def discover_taps(wrapper: nn.Module, mode: str, resolution: int, name: str = "model") -> list[Tap]:
    """The taps of ``wrapper.model`` under ``mode``, checked by a dry forward at ``resolution``.

    ``wrapper``: an :class:`~tunnellab.models.external.ExternalBackbone` (its ``model`` child is
    searched; tap paths start at the wrapper: ``model.<path>``).
    """
    model = wrapper.model
    paths = candidate_paths(model, mode)
    try:
        readings = _dry_forward(model, paths, resolution)
    except Exception as err:  # any failure here means the model cannot run at this size
        raise ConfigError(
            f"model '{name}' cannot run on {resolution}x{resolution} images "
            f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); "
            "use another data.resolution or model"
        ) from None
    usable = sorted(
        (p for p in paths if readings[p].calls == 1 and readings[p].shape is not None),
        key=lambda p: readings[p].order,
    )
    layouts = {p: _layout(readings[p].shape, None) for p in usable}
    if any(v is None and len(readings[p].shape) == 4 for p, v in layouts.items()):
        layouts = _resolve_ambiguous(model, usable, readings, resolution)
    taps = []
    for path in usable:
        layout = layouts.get(path)
        if layout is None and len(readings[path].shape) == 4:
            layout = "nchw"  # square maps with as many channels as pixels: assume PyTorch's NCHW
        if layout == "tokens":
            taps.append(Tap(path, f"model.{path}", "output", "token_mean"))
        elif layout in ("nchw", "nhwc"):
            transform = "to_nchw" if layout == "nhwc" else None
            taps.append(Tap(path, f"model.{path}", "output", "avg2x2", transform))
    if not taps:
        hint = "model.tap_discovery=conv" if mode == "blocks" else "model.tap_discovery=blocks"
        raise ConfigError(
            f"no '{mode}' taps found in model '{name}' ({type(model).__name__}): no module called "
            f"once per forward gives a feature map or tokens; try {hint}"
        )
    return taps


def _resolve_ambiguous(
    model: nn.Module, paths: list[str], readings: dict[str, _Reading], resolution: int
) -> dict[str, str | None]:
    """Tell NCHW from NHWC by which axes grow with a larger input (when the model allows it)."""
    try:
        wider = _dry_forward(model, paths, resolution * 2)
    except Exception:  # fixed-size models: keep the shape heuristic
        wider = {}
    return {p: _layout(readings[p].shape, wider[p].shape if p in wider else None) for p in paths}
