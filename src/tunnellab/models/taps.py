"""Where the linear probes read, expressed as data, and how the readings are recorded.

A :class:`Tap` names a module inside a backbone, which side of it to read (its input via a
forward pre-hook, or its output via a forward hook) and how to pool the reading into a flat
vector. :class:`TapRecorder` attaches the hooks for the duration of a ``with`` block and keeps
only the pooled ``(B, D)`` features of the last forward pass.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.hooks import RemovableHandle

__all__ = [
    "POOLS",
    "SIDES",
    "TAP_KINDS",
    "Tap",
    "TapRecorder",
    "check_tap_kind",
    "pool_feature",
    "resolve_tap",
    "tap_dim",
    "tap_dims",
]

Side = Literal["input", "output"]
Pool = Literal["avg2x2", "token_mean"]

SIDES: tuple[str, ...] = ("input", "output")
POOLS: tuple[str, ...] = ("avg2x2", "token_mean")
TAP_KINDS: tuple[str, ...] = ("paper", "blocks")
"""``paper``: where the paper's released code read; ``blocks``: post-activation block outputs."""


@dataclass(frozen=True)
class Tap:
    """One probe location.

    Attributes:
        name: short human name, e.g. ``"conv3"`` or ``"layer2.0.conv1:in"``.
        module: dotted path of the module (``model.get_submodule(module)``).
        side: read the module's ``"input"`` (first positional argument) or ``"output"``.
        pool: how the reading becomes a ``(B, D)`` vector, see :func:`pool_feature`.
        transform: optional dotted path of a module applied to the reading before pooling
            (e.g. a ViT's final ``"norm"``); it is called without triggering its hooks.
    """

    name: str
    module: str
    side: Side
    pool: Pool = "avg2x2"
    transform: str | None = None

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ValueError(f"tap '{self.name}': side must be one of {SIDES}, got {self.side!r}")
        if self.pool not in POOLS:
            raise ValueError(f"tap '{self.name}': pool must be one of {POOLS}, got {self.pool!r}")


def check_tap_kind(kind: str) -> None:
    """Raise ``ValueError`` unless ``kind`` is one of :data:`TAP_KINDS`."""
    if kind not in TAP_KINDS:
        raise ValueError(f"unknown taps kind '{kind}'; allowed: {', '.join(TAP_KINDS)}")


def pool_feature(x: torch.Tensor, pool: str) -> torch.Tensor:
    """Pool one reading into ``(B, D)``.

    ``avg2x2``: ``(B, C, H, W)`` -> adaptive average pool to 2x2 -> flatten -> ``(B, 4*C)``
    (channel-major; a 1x1 map is replicated into the four cells).
    ``token_mean``: ``(B, T, D)`` -> mean over tokens -> ``(B, D)``.
    """
    if pool == "avg2x2":
        if x.dim() != 4:
            raise ValueError(f"avg2x2 pooling needs a (B, C, H, W) map, got shape {tuple(x.shape)}")
        return F.adaptive_avg_pool2d(x, 2).flatten(1)
    if pool == "token_mean":
        if x.dim() != 3:
            raise ValueError(f"token_mean pooling needs (B, T, D) tokens, got {tuple(x.shape)}")
        return x.mean(dim=1)
    raise ValueError(f"unknown pool '{pool}'; allowed: {', '.join(POOLS)}")


def resolve_tap(model: nn.Module, tap: Tap) -> nn.Module:
    """The module a tap reads; ``ValueError`` naming the tap if the path does not exist."""
    try:
        return model.get_submodule(tap.module)
    except AttributeError as err:
        raise ValueError(
            f"tap '{tap.name}': module '{tap.module}' not found in {type(model).__name__}"
        ) from err


def _resolve_transform(model: nn.Module, tap: Tap) -> nn.Module | None:
    if tap.transform is None:
        return None
    try:
        return model.get_submodule(tap.transform)
    except AttributeError as err:
        raise ValueError(
            f"tap '{tap.name}': transform '{tap.transform}' not found in {type(model).__name__}"
        ) from err


class TapRecorder:
    """Record pooled features at a list of taps while the model runs.

    ``with TapRecorder(model, taps) as rec: model(x)`` leaves ``rec.features``: one ``(B, D)``
    tensor per tap, in tap order, from the last complete forward of ``model`` (call the model
    itself, not a submodule: the pass is delimited by hooks on the root module). Pooling happens
    inside the hooks, so full feature maps are never kept. Features are detached unless
    ``detach=False``. ``on_features`` is called with the list after every forward. All hooks are
    removed on exit, also when the block raises.
    """

    def __init__(
        self,
        model: nn.Module,
        taps: Sequence[Tap],
        on_features: Callable[[list[torch.Tensor]], Any] | None = None,
        detach: bool = True,
    ) -> None:
        self.model = model
        self.taps = list(taps)
        self.on_features = on_features
        self.detach = detach
        self.features: list[torch.Tensor] = []
        self._current: list[torch.Tensor | None] | None = None
        self._transforms: list[nn.Module | None] = []
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> TapRecorder:
        modules = [resolve_tap(self.model, tap) for tap in self.taps]
        self._transforms = [_resolve_transform(self.model, tap) for tap in self.taps]
        try:
            # Root hooks are registered first/last so they bracket every tap hook.
            self._handles.append(self.model.register_forward_pre_hook(self._start))
            for index, (tap, module) in enumerate(zip(self.taps, modules, strict=True)):
                if tap.side == "input":
                    hook = module.register_forward_pre_hook(partial(self._on_input, index))
                else:
                    hook = module.register_forward_hook(partial(self._on_output, index))
                self._handles.append(hook)
            self._handles.append(self.model.register_forward_hook(self._finish))
        except BaseException:
            self.remove()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove every hook this recorder attached (idempotent)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._current = None

    # hooks -------------------------------------------------------------------------------
    def _start(self, module: nn.Module, args: tuple[Any, ...]) -> None:
        self._current = [None] * len(self.taps)

    def _on_input(self, index: int, module: nn.Module, args: tuple[Any, ...]) -> None:
        if not args:
            raise RuntimeError(
                f"tap '{self.taps[index].name}': module got no positional input to read"
            )
        self._record(index, args[0])

    def _on_output(self, index: int, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        self._record(index, output)

    def _record(self, index: int, x: Any) -> None:
        tap = self.taps[index]
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"tap '{tap.name}': expected a tensor, got {type(x).__name__}")
        if self._current is None:
            self._current = [None] * len(self.taps)
        if self._current[index] is not None:
            raise RuntimeError(
                f"tap '{tap.name}': module '{tap.module}' ran twice in one forward pass; "
                "tap a module that is called once"
            )
        if self.detach:
            x = x.detach()
        transform = self._transforms[index]
        if transform is not None:
            x = transform.forward(x)
        self._current[index] = pool_feature(x, tap.pool)

    def _finish(self, module: nn.Module, args: tuple[Any, ...], output: Any) -> None:
        current = self._current
        self._current = None
        if current is None:
            return
        missing = [tap.name for tap, feat in zip(self.taps, current, strict=True) if feat is None]
        if missing:
            raise RuntimeError(f"taps did not fire during the forward pass: {', '.join(missing)}")
        self.features = [feat for feat in current if feat is not None]
        if self.on_features is not None:
            self.on_features(self.features)


def tap_dims(
    model: nn.Module, taps: Sequence[Tap], resolution: int, in_chans: int = 3
) -> list[int]:
    """Feature dimension of each tap, from a dry forward of one zero image at ``resolution``.

    The model runs in eval mode under ``no_grad``; its training flag is restored afterwards.
    """
    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    dtype = param.dtype if param is not None else torch.float32
    x = torch.zeros(1, in_chans, resolution, resolution, device=device, dtype=dtype)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), TapRecorder(model, taps) as rec:
            model(x)
    finally:
        model.train(was_training)
    return [int(f.shape[1]) for f in rec.features]


def tap_dim(model: nn.Module, tap: Tap, resolution: int, in_chans: int = 3) -> int:
    """Feature dimension of a single tap (see :func:`tap_dims`)."""
    return tap_dims(model, [tap], resolution, in_chans)[0]
