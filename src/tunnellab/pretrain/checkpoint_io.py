"""Checkpoints written whole or not at all: a temporary file in the same folder, then a rename.

Lightning's own save goes through an fsspec transaction whose temporary file lives in the system
temp dir; across filesystems its final move is a copy, which a kill or a full disk can cut short,
leaving a truncated ``last.ckpt`` that a relaunch would resume from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from tunnellab.atomic import atomic_write
from tunnellab.disk import disk_error


class AtomicCheckpointIO(TorchCheckpointIO):
    """:class:`TorchCheckpointIO` that writes each checkpoint atomically (local paths)."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None or "://" in str(path):
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            wrapped = disk_error(err, path.parent)
            if wrapped is err:
                raise
            raise wrapped from err
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))
        return None
