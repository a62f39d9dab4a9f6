"""The resolution check: the backbone's pretraining resolution vs the native size of your images."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, UnidentifiedImageError
from torch import nn

from tunnellab.data.folders import image_files

# Pretraining resolutions differ enough to re-probe when their ratio exceeds this.
MISMATCH_RATIO = 1.25


def native_size(root: str | Path, max_files: int = 2000) -> int | None:
    """Median shorter side of the images under ``root`` (headers only; unreadable files ignored)."""
    files = image_files(Path(root))
    step = max(1, len(files) // max_files)
    sides = []
    for path in files[::step]:
        try:
            with Image.open(path) as image:
                sides.append(min(image.size))
        except (OSError, UnidentifiedImageError):
            continue
    return int(np.median(sides)) if sides else None


def pretraining_resolution(model: nn.Module, checkpoint: str | Path | None) -> int | None:
    """The resolution the backbone was pretrained at, when it can be known.

    A tunnellab checkpoint's run dir holds ``config.yaml`` (``data.resolution``); timm models
    carry ``pretrained_cfg['input_size']``; torchvision's ImageNet weights use 224.
    """
    if checkpoint is not None:
        run_config = Path(checkpoint).resolve().parent.parent / "config.yaml"
        if run_config.is_file():
            data = yaml.safe_load(run_config.read_text()).get("data", {})
            if isinstance(data.get("resolution"), int):
                return data["resolution"]
    inner = getattr(model, "model", model)
    input_size = getattr(inner, "pretrained_cfg", {}).get("input_size")
    if input_size:
        return int(input_size[-1])
    if getattr(model, "meta", {}).get("family") == "torchvision":
        return 224
    return None


def resolutions_to_probe(
    requested: int, pretraining: int | None, native: int | None, limits: Sequence[int] = (16, 224)
) -> list[int]:
    """``requested`` first, then the pretraining or native size when it differs enough."""
    out = [requested]
    for other in (pretraining, native):
        if other is None:
            continue
        other = int(min(max(other, limits[0]), limits[1]))
        if max(other, requested) / min(other, requested) >= MISMATCH_RATIO and other not in out:
            out.append(other)
    return out[:2]
