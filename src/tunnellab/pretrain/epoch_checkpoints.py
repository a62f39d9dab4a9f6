"""Checkpoints of chosen epochs (``probe.at_epochs``), kept for probing the tunnel as it forms."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig

from tunnellab.errors import ConfigError
from tunnellab.run_identity import CHECKPOINT_DIR


def epoch_checkpoint(run_dir: Path, epoch: int) -> Path:
    """Where the weights after (1-based) ``epoch`` are kept: ``checkpoints/epoch_<k>.ckpt``."""
    return Path(run_dir) / CHECKPOINT_DIR / f"epoch_{int(epoch)}.ckpt"


def kept_epochs(cfg: DictConfig) -> list[int]:
    """``probe.at_epochs`` sorted without repeats (empty when the key is absent)."""
    probe = cfg.get("probe") or {}
    return sorted({int(e) for e in (probe.get("at_epochs") or [])})


def check_at_epochs(cfg: DictConfig) -> None:
    """:class:`ConfigError` unless every ``probe.at_epochs`` entry is an epoch that is trained."""
    epochs = int(cfg.optim.epochs)
    bad = [e for e in (cfg.probe.get("at_epochs") or []) if not 1 <= int(e) <= epochs]
    if bad:
        raise ConfigError(
            f"'probe.at_epochs={list(cfg.probe.at_epochs)}' names epochs that are not trained "
            f"({', '.join(str(e) for e in bad)}): with optim.epochs={epochs} each entry must be "
            f"an integer from 1 to {epochs}; use [] to probe only the final backbone."
        )


class KeepEpochs(pl.Callback):
    """Save the weights at the end of each listed epoch (written atomically by the trainer's
    checkpoint IO; weights only). Reads nothing and draws no random numbers, so training is
    unchanged; a resumed run keeps the files of the epochs it had already saved."""

    def __init__(self, run_dir: Path, epochs: Iterable[int]) -> None:
        self.run_dir = Path(run_dir)
        self.epochs = frozenset(int(e) for e in epochs)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch + 1
        if epoch in self.epochs:
            trainer.save_checkpoint(epoch_checkpoint(self.run_dir, epoch), weights_only=True)
