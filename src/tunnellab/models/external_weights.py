"""Weights of timm / torchvision models: a file (``.pth``/``.pt``/``.bin``/``.safetensors``) or
the user's local timm / Hugging Face / torch hub cache (never the network), read as tensors and
loaded into a model whose classifier may be missing or sized for other classes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tunnellab.errors import ConfigError
from tunnellab.models.weights_io import compare_state, load_weights_file

__all__ = [
    "load_weights",
    "read_state_dict",
    "timm_cached_weights",
    "torchvision_cached_weights",
    "weights_file",
]

log = logging.getLogger(__name__)

_WRAPPER_KEYS = ("state_dict", "model", "teacher", "module", "network")
_KEY_PREFIXES = ("module.", "backbone.", "model.", "encoder.", "base_encoder.")
_WEIGHTS_EXPECTED = "a .pth/.pt/.bin/.safetensors file holding a state dict of this model"


def weights_file(weights: str | Path) -> Path:
    """The weights file a config names; :class:`ConfigError` naming the path when missing."""
    path = Path(weights).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"'model.weights={weights}': no weights file at '{path.resolve()}'; pass the path "
            "of a .pth/.pt/.bin/.safetensors file, model.weights=cache (the local timm / torch "
            "hub cache) or model.weights=null (random init)"
        )
    return path


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors of a checkpoint file, unwrapped from ``state_dict``/``model``/... containers.

    Loaded through :func:`~tunnellab.models.weights_io.load_weights_file`: never unpickles code.
    """
    path = Path(path)
    state: Any = load_weights_file(path, "model.weights", _WEIGHTS_EXPECTED)
    while isinstance(state, dict):
        inner = next((state[k] for k in _WRAPPER_KEYS if isinstance(state.get(k), dict)), None)
        if inner is None:
            break
        state = inner
    if not isinstance(state, dict):
        raise ConfigError(
            f"'model.weights={path}' holds a {type(state).__name__}, not a state dict; "
            f"expected {_WEIGHTS_EXPECTED}"
        )
    return {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}


def _strip_prefixes(state: dict[str, torch.Tensor], own: set[str]) -> dict[str, torch.Tensor]:
    """Drop wrapper prefixes (``module.``, ``backbone.``, ...) while that matches more keys."""
    improved = True
    while improved:
        improved = False
        for prefix in _KEY_PREFIXES:
            stripped = {k.removeprefix(prefix): v for k, v in state.items()}
            if len(own & stripped.keys()) > len(own & state.keys()):
                state, improved = stripped, True
    return state


def _is_under(key: str, path: str) -> bool:
    return key == path or key.startswith(path + ".")


def load_weights(
    model: nn.Module, state: dict[str, torch.Tensor], head_path: str, source: str
) -> None:
    """Load ``state`` into ``model``; the classifier may be missing or sized for other classes.

    Raises :class:`ConfigError` when any non-classifier tensor is missing or has another shape;
    tensors the model does not have (projection heads, prototypes) are ignored with a log line.
    """
    own = model.state_dict()
    fits = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    bad = compare_state(own, state, ignore=lambda k: _is_under(k, head_path))
    if bad.missing or bad.reshaped:
        raise ConfigError(
            f"weights '{source}' do not fit {type(model).__name__}: {bad.describe()}; "
            "check model.name matches the checkpoint"
        )
    unexpected = [k for k in state if k not in own]
    if unexpected:
        log.info(
            "ignored %d tensors of %s not in the model: %s", len(unexpected), source, unexpected[:4]
        )
    model.load_state_dict(fits, strict=False)


def _hf_candidates(filename: str | None) -> list[str]:
    filename = filename or "pytorch_model.bin"
    if filename.endswith(".safetensors"):
        return [filename]
    safe = filename.replace("pytorch_model.bin", "model.safetensors")
    return [safe if safe != filename else filename.rsplit(".", 1)[0] + ".safetensors", filename]


def _torch_hub_file(url: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def timm_cached_weights(name: str) -> Path:
    """The cached file timm would load for ``name``, looked up locally (no network)."""
    from huggingface_hub import try_to_load_from_cache
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    if cfg is None:
        raise ConfigError(f"timm model '{name}' has no pretrained weights; use model.weights=null")
    tried: list[str] = []
    if cfg.hf_hub_id:
        repo, _, revision = cfg.hf_hub_id.partition("@")
        for filename in _hf_candidates(cfg.hf_hub_filename):
            found = try_to_load_from_cache(repo, filename, revision=revision or None)
            if isinstance(found, str):
                return Path(found)
            tried.append(f"Hugging Face cache {repo}/{filename}")
    if cfg.url:
        path = _torch_hub_file(cfg.url)
        if path.is_file():
            return path
        tried.append(str(path))
    raise ConfigError(
        f"'model.weights=cache': no cached weights for timm model '{name}' (looked in "
        f"{'; '.join(tried) or 'nowhere: no download source known'}); nothing is downloaded at "
        f'run time: fetch them once with network (python -c "import timm; '
        f"timm.create_model('{name}', pretrained=True)\") or pass model.weights=/path/to/file"
    )


def torchvision_cached_weights(name: str) -> Path:
    """The torch hub cache file of torchvision's default weights for ``name`` (no network)."""
    import torchvision

    enum = torchvision.models.get_model_weights(name)
    path = _torch_hub_file(enum.DEFAULT.url)
    if not path.is_file():
        raise ConfigError(
            f"'model.weights=cache': no cached weights for torchvision model '{name}' (looked for "
            f"'{path}'); nothing is downloaded at run time: fetch them once with network "
            f"(python -c \"import torchvision; torchvision.models.get_model('{name}', "
            f"weights='DEFAULT')\") or pass model.weights=/path/to/file"
        )
    return path
