"""Any timm or torchvision classifier as a tunnellab backbone, with its taps discovered.

``timm_backbone`` / ``torchvision_backbone`` build the model with ``num_classes`` outputs, load
weights when asked (``weights=None``: random init; a ``.pth``/``.pt``/``.bin``/``.safetensors``
file; ``"cache"``: the user's existing timm/Hugging Face or torch hub cache, never the network) and
wrap it in :class:`ExternalBackbone`, which offers the paper models' interface: ``taps(kind)``,
``meta``, ``head`` and ``forward``.

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

import logging
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.ops.misc import Permute

from tunnellab.errors import ConfigError
from tunnellab.models.taps import Tap, check_tap_kind
from tunnellab.models.weights_io import compare_state, load_weights_file

__all__ = [
    "TAP_DISCOVERY",
    "ExternalBackbone",
    "block_paths",
    "load_weights",
    "read_state_dict",
    "timm_backbone",
    "timm_cached_weights",
    "timm_model_names",
    "torchvision_backbone",
    "torchvision_cached_weights",
    "torchvision_model_names",
]

log = logging.getLogger(__name__)

#: ``tap_discovery``: children of block containers, or every ``Conv2d`` output (module docstring)
TAP_DISCOVERY: tuple[str, ...] = ("blocks", "conv")

_FAMILIES = {"visiontransformer": "vit", "swintransformer": "swin"}  # else the class name
_CONTAINERS = (nn.Sequential, nn.ModuleList)
_WEIGHT_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)
_ACTIVATIONS = (nn.ReLU, nn.GELU, nn.SiLU, nn.Hardswish, nn.LeakyReLU, nn.ReLU6)
_WRAPPER_KEYS = ("state_dict", "model", "teacher", "module", "network")
_KEY_PREFIXES = ("module.", "backbone.", "model.", "encoder.", "base_encoder.")
_WEIGHTS_EXPECTED = "a .pth/.pt/.bin/.safetensors file holding a state dict of this model"


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


# ------------------------------------------------------------------------ discovery ---
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


def discover_taps(
    wrapper: ExternalBackbone, mode: str, resolution: int, name: str = "model"
) -> list[Tap]:
    """The taps of ``wrapper.model`` under ``mode``, checked by a dry forward at ``resolution``."""
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


# -------------------------------------------------------------------------- weights ---
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
