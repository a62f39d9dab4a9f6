"""A backbone's state dict cut into extractor E, tunnel T and head, and reassembled.

The cut is at a tap (1-based, as ``tunnel_start`` everywhere in the project): the tunnel is
every state-dict entry (parameters and buffers) from the module that tap reads onward, in the
model's registration order, the head (``model.head``) excluded; the extractor is the rest
before it. A tap that reads a module's output cuts after that module.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tunnellab.errors import ConfigError
from tunnellab.models.taps import Tap

State = dict[str, torch.Tensor]


def head_module(model: nn.Module) -> nn.Linear:
    """The classifier every backbone of the zoo exposes as ``model.head``."""
    head = getattr(model, "head", None)
    if not isinstance(head, nn.Linear):
        raise ConfigError(
            f"model '{type(model).__name__}' has no linear classifier at 'model.head'; the "
            "continual stage swaps per-task heads and needs one."
        )
    return head


def head_prefix(model: nn.Module) -> str:
    """The state-dict prefix of ``model.head`` (``fc.`` for ResNets)."""
    head = head_module(model)
    name = next(n for n, p in model.named_parameters() if p is head.weight)
    return name.rsplit(".", 1)[0] + "."


def set_head(model: nn.Module, n_classes: int) -> None:
    """Give ``model`` a fresh head of ``n_classes`` outputs (if its size differs)."""
    head = head_module(model)
    if head.out_features != n_classes:
        model.head = nn.Linear(head.in_features, n_classes)


@dataclass
class Cut:
    """Which state-dict keys are the extractor, the tunnel and the head."""

    tap_index: int
    extractor: list[str]
    tunnel: list[str]
    head: list[str]


def cut_model(model: nn.Module, taps: list[Tap], tap_index: int) -> Cut:
    """Cut ``model`` at tap ``tap_index`` (1-based); both parts must hold weights."""
    if not 2 <= tap_index <= len(taps):
        raise ConfigError(
            f"'continual.tunnel_start={tap_index}' is outside 2..{len(taps)}: the tunnel starts "
            f"at one of the model's {len(taps)} taps, after at least one extractor tap."
        )
    keys = list(model.state_dict().keys())
    prefix = head_prefix(model)
    body = [k for k in keys if not k.startswith(prefix)]
    tap = taps[tap_index - 1]
    owned = [i for i, k in enumerate(body) if k.startswith(tap.module + ".")]
    if not owned:
        raise ConfigError(
            f"tap {tap_index} ('{tap.name}') reads module '{tap.module}', which holds no "
            "weights; choose another continual.tunnel_start."
        )
    split = owned[0] if tap.side == "input" else owned[-1] + 1
    cut = Cut(tap_index, body[:split], body[split:], [k for k in keys if k.startswith(prefix)])
    if not cut.extractor or not cut.tunnel:
        raise ConfigError(
            f"'continual.tunnel_start={tap_index}' leaves the "
            f"{'extractor' if not cut.extractor else 'tunnel'} without weights; choose a later "
            "or earlier tap."
        )
    return cut


def part(state: State, keys: list[str]) -> State:
    """Copies of the entries of ``state`` named by ``keys``."""
    return {k: state[k].detach().clone() for k in keys}


def assemble(extractor: State, tunnel: State, head: State) -> State:
    """One state dict from the three parts (they must not overlap)."""
    overlap = (extractor.keys() & tunnel.keys()) | ((extractor | tunnel).keys() & head.keys())
    if overlap:
        raise ValueError(f"parts overlap on {sorted(overlap)[:4]}")
    return {**extractor, **tunnel, **head}


def load_combination(model: nn.Module, extractor: State, tunnel: State, head: State) -> nn.Module:
    """``model`` holding exactly ``extractor + tunnel + head`` (its head resized to fit)."""
    weight = next(v for k, v in head.items() if k.endswith("weight"))
    set_head(model, int(weight.shape[0]))
    model.load_state_dict(assemble(extractor, tunnel, head), strict=True)
    return model
