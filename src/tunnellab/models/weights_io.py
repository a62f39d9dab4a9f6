"""Load checkpoint and weights files from user paths without running code from them.

Every file a user points at (``checkpoint=``, ``model.weights=``) goes through
:func:`load_weights_file`: ``torch.load(weights_only=True)`` (tensors, numbers, strings and plain
containers only; tunnellab's own Lightning checkpoints hold nothing else) or
``safetensors.torch.load_file``. A file that cannot be loaded that way raises a one-paragraph
:class:`~tunnellab.errors.ConfigError` naming the path and saying what was expected: missing,
empty, cut short, not a checkpoint at all, or a pickle that asks to run code (refused; the message
says how to convert a trusted file). :func:`check_fits` explains a checkpoint of another model.
"""

from __future__ import annotations

import pickle
import pickletools
import re
import struct
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from tunnellab.errors import ConfigError

__all__ = [
    "Mismatch",
    "check_fits",
    "compare_state",
    "load_weights_file",
    "run_config_model",
    "state_dict_of",
]

_ZIP_MAGIC = b"PK\x03\x04"
_UNSUPPORTED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
_PUT_OPS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GET_OPS = {"GET", "BINGET", "LONG_BINGET"}
_STRING_OPS = {"SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8", "STRING"}


def load_weights_file(path: str | Path, key: str = "checkpoint", expected: str = "") -> Any:
    """What the file at ``path`` holds, loaded without unpickling code (CPU tensors).

    ``key`` is the config key the path came from and ``expected`` what it should hold; both go
    into the :class:`ConfigError` raised for a missing, empty, damaged, foreign or unsafe file.
    """
    path = Path(path).expanduser()
    where = f"'{key}={path}'"
    expected = expected or "a PyTorch checkpoint (.ckpt/.pt/.pth/.bin) or a .safetensors file"
    if not path.exists():
        raise ConfigError(f"{where}: no such file ({path.resolve()}); expected {expected}.")
    if not path.is_file():
        raise ConfigError(f"{where} is a directory, not a file; expected {expected}.")
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(16)
    if size == 0:
        raise ConfigError(f"{where} is an empty file (0 bytes); expected {expected}.")
    if path.suffix == ".safetensors" or _looks_like_safetensors(head, size):
        return _load_safetensors(path, where, expected)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note on pickle protocols
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        unsafe = _unsafe_globals(path, head, str(err))
        if unsafe:
            raise ConfigError(_refusal(where, path, unsafe)) from None
        raise ConfigError(_not_a_checkpoint(where, head, size, expected)) from None
    except Exception:  # torch raises RuntimeError, EOFError, KeyError, ... on foreign bytes
        raise ConfigError(_not_a_checkpoint(where, head, size, expected)) from None


def _looks_like_safetensors(head: bytes, size: int) -> bool:
    """A safetensors file: an 8-byte little-endian header length, then a JSON object."""
    if len(head) < 9:
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return head[8:9] == b"{" and 0 < header_len <= size - 8


def _load_safetensors(path: Path, where: str, expected: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except Exception as err:  # SafetensorError, OSError, ...
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(
            f"{where} is not a readable safetensors file ({reason}); it may be cut short or "
            f"damaged: copy it again. Expected {expected}."
        ) from None


def _not_a_checkpoint(where: str, head: bytes, size: int, expected: str) -> str:
    if head.startswith(_ZIP_MAGIC):
        return (
            f"{where} is a damaged or cut-short checkpoint ({size} bytes; a PyTorch zip archive "
            "without a readable end): the save or the copy was probably interrupted; copy it "
            f"again or rerun the job that wrote it. Expected {expected}."
        )
    if head.startswith(b"\x80"):
        return (
            f"{where} is a pickle that could not be read as tensors ({size} bytes; cut short, "
            f"damaged or not written by torch.save). Expected {expected}."
        )
    kind = "a text file" if _is_text(head) else "unrecognised bytes"
    return f"{where} is not a checkpoint ({kind} starting with {head[:8]!r}); expected {expected}."


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return all(c >= 32 or c in b"\t\n\r" for c in head)


def _unsafe_globals(path: Path, head: bytes, message: str) -> list[str]:
    """The Python objects a pickle would call or build beyond what ``weights_only`` allows."""
    names: list[str] = []
    if head.startswith(_ZIP_MAGIC):
        try:
            names = list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
        except Exception:  # a damaged archive: the caller reports it as such
            names = []
    else:
        # torch's own globals in a legacy file only fail when the file is cut short.
        found = _UNSUPPORTED_GLOBAL.findall(message)
        names = [n for n in found if not n.startswith("torch.")] or _pickle_globals(path)
    return sorted(set(names))


def _pickle_globals(path: Path) -> list[str]:
    """Globals named by the first pickle in ``path`` (read by ``pickletools``, never executed)."""
    names: list[str] = []
    pushed: list[str | None] = []  # what each op pushed (strings only; None for anything else)
    memo: dict[int, str | None] = {}
    try:
        with path.open("rb") as handle:
            for op, arg, _ in pickletools.genops(handle):
                if op.name in _STRING_OPS:
                    pushed.append(str(arg))
                elif op.name == "MEMOIZE":
                    memo[len(memo)] = pushed[-1] if pushed else None
                elif op.name in _PUT_OPS:
                    memo[int(arg)] = pushed[-1] if pushed else None
                elif op.name in _GET_OPS:
                    pushed.append(memo.get(int(arg)))
                elif op.name == "STACK_GLOBAL":
                    module, name = pushed[-2:] if len(pushed) >= 2 else (None, None)
                    names.append(f"{module}.{name}" if module and name else "(unnamed global)")
                    pushed.append(None)
                elif op.name in ("GLOBAL", "INST"):
                    names.append(str(arg).replace(" ", "."))
                    pushed.append(None)
                else:
                    pushed.append(None)
    except Exception:  # not a pickle, or cut short: what was found so far
        pass
    return [n for n in names if not n.startswith(("torch.", "collections.OrderedDict"))]


def _refusal(where: str, path: Path, unsafe: list[str]) -> str:
    shown = ", ".join(unsafe[:4]) + (f" and {len(unsafe) - 4} more" if len(unsafe) > 4 else "")
    clean = path.with_name(path.stem + ".tensors.pt")
    return (
        f"refused to load {where}: unpickling it would run code or build Python objects "
        f"({shown}), and files from user paths are loaded as tensors only. If you trust the "
        'file, convert it once to plain tensors and pass the new file: python -c "import torch; '
        f"s = torch.load('{path}', weights_only=False); s = getattr(s, 'state_dict', lambda: s)(); "
        f"torch.save(s.get('state_dict', s), '{clean}')\""
    )


# -------------------------------------------------------------------- state dicts ---
def state_dict_of(obj: Any, where: str, strip: str = "model.") -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint: a Lightning checkpoint's ``state_dict`` (keys without
    the ``strip`` prefix) or a plain state dict; :class:`ConfigError` for anything else."""
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    tensors = (
        {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
        if isinstance(state, dict)
        else {}
    )
    if not tensors:
        held = type(state).__name__ if not isinstance(state, dict) else "a dict without tensors"
        raise ConfigError(
            f"{where} holds {held}, not model weights; expected a tunnellab checkpoint "
            "(<run dir>/checkpoints/best.ckpt) or a state dict of tensors."
        )
    return {k.removeprefix(strip): v for k, v in tensors.items()}


@dataclass
class Mismatch:
    """How a state dict differs from a model's: keys missing, unexpected, or of another shape."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    reshaped: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.reshaped)

    def describe(self) -> str:
        """``2 tensors missing (e.g. a, b), 1 unexpected (e.g. c), 1 of another shape (...)``."""
        parts = []
        if self.missing:
            parts.append(f"{len(self.missing)} tensors missing (e.g. {_few(self.missing)})")
        if self.unexpected:
            parts.append(f"{len(self.unexpected)} unexpected (e.g. {_few(self.unexpected)})")
        if self.reshaped:
            shown = "; ".join(
                f"{k}: file {_shape(a)}, model {_shape(b)}" for k, a, b in self.reshaped[:2]
            )
            parts.append(f"{len(self.reshaped)} of another shape (e.g. {shown})")
        return ", ".join(parts)


def _few(keys: list[str]) -> str:
    return ", ".join(keys[:3])


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape) or "scalar"


def compare_state(
    own: Mapping[str, torch.Tensor],
    given: Mapping[str, torch.Tensor],
    ignore: Callable[[str], bool] = lambda key: False,
) -> Mismatch:
    """Keys of ``own`` (a model's state dict) that ``given`` lacks, has extra or shapes otherwise;
    ``num_batches_tracked`` buffers and keys for which ``ignore(key)`` is true are skipped."""

    def counted(key: str) -> bool:
        return not key.endswith("num_batches_tracked") and not ignore(key)

    return Mismatch(
        missing=[k for k in own if k not in given and counted(k)],
        unexpected=[k for k in given if k not in own and counted(k)],
        reshaped=[
            (k, tuple(v.shape), tuple(own[k].shape))
            for k, v in given.items()
            if k in own and tuple(own[k].shape) != tuple(v.shape) and counted(k)
        ],
    )


def run_config_model(checkpoint: Path) -> str | None:
    """``model.name`` (and width) of the run that wrote ``<run dir>/checkpoints/<file>``, read from
    the run dir's ``config.yaml``; None when there is none."""
    config = Path(checkpoint).resolve().parent.parent / "config.yaml"
    try:
        model = yaml.safe_load(config.read_text()).get("model", {})
    except (OSError, yaml.YAMLError, AttributeError):
        return None
    if not isinstance(model, dict) or "name" not in model:
        return None
    width = f", model.width={model['width']}" if model.get("width") not in (None, 1, 1.0) else ""
    return f"model.name={model['name']}{width} (per {config})"


def check_fits(
    model: nn.Module, weights: Mapping[str, torch.Tensor], path: Path, key: str, name: str
) -> None:
    """Raise :class:`ConfigError` unless ``weights`` has exactly ``model``'s tensors and shapes.

    The paragraph names the file (``key=path``), the model config (``name``), the first missing /
    unexpected keys and a shape mismatch, and what the file seems to hold.
    """
    mismatch = compare_state(model.state_dict(), weights)
    if not mismatch:
        return
    origin = run_config_model(path)
    seems = (
        f"the file was trained as {origin}"
        if origin
        else f"the file holds {len(weights)} tensors starting with {_few(list(weights))}"
    )
    raise ConfigError(
        f"'{key}={path}' holds the weights of another model than model.name={name} "
        f"({type(model).__name__}): {mismatch.describe()}; {seems}. Pass the checkpoint of a "
        "run with this model config, or set model=... (and model.width) to the one it was "
        "trained with."
    )
