"""The tunnel over training: probe the checkpoints ``probe.at_epochs`` kept, with the run's engine.

Each kept epoch is probed like the final backbone (the same taps, recipe, seed and feature cache,
whose keys hash the weights, so every epoch has its own entries); an epoch whose weights are the
probed checkpoint's reuses the main probe's rows. Writes ``dynamics.csv`` and ``dynamics.png/.pdf``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import torch
from omegaconf import DictConfig
from torch import nn

from tunnellab.analysis.dynamics_figure import plot_dynamics, tunnel_by_epoch
from tunnellab.atomic import atomic_write
from tunnellab.data.arrays import DatasetSplits
from tunnellab.errors import ConfigError
from tunnellab.pretrain.epoch_checkpoints import epoch_checkpoint, kept_epochs
from tunnellab.pretrain.train import load_backbone
from tunnellab.probe.stage import ProbeStage, run_probe_stage
from tunnellab.result_tables import effective_accuracy, probe_rows
from tunnellab.stages import enter_stage
from tunnellab.tracking.tracker import Tracker

DYNAMICS = "dynamics.csv"
COLUMNS = ["run_id", "epoch", "dataset", "role", "tap_index", "tap_name", "accuracy", "acc"]

StageFactory = Callable[[DictConfig, Path, nn.Module], ProbeStage]


def check_kept_checkpoints(cfg: DictConfig, run_dir: Path) -> None:
    """:class:`ConfigError` when a checkpoint ``probe.at_epochs`` asks for was not kept (the
    backbone was pretrained, or began, under another ``probe.at_epochs``)."""
    missing = [e for e in kept_epochs(cfg) if not epoch_checkpoint(run_dir, e).is_file()]
    if missing:
        raise ConfigError(
            f"'probe.at_epochs={kept_epochs(cfg)}': the checkpoints of epochs "
            f"{', '.join(map(str, missing))} were not kept in {Path(run_dir) / 'checkpoints'} "
            "(its backbone was pretrained with another probe.at_epochs). Use a new run dir "
            "(hydra.run.dir=...) to pretrain again keeping them, or list only the kept epochs."
        )


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Whether two modules hold identical parameters and buffers (names, shapes and values)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(
        sa[k].shape == sb[k].shape and torch.equal(sa[k], sb[k]) for k in sa
    )


def epoch_rows(probes: pd.DataFrame, epoch: int, accuracy: str) -> pd.DataFrame:
    """``dynamics.csv`` rows of one epoch from its ``probe_results`` rows (``acc_<accuracy>``)."""
    rows = probes.assign(epoch=int(epoch), accuracy=accuracy, acc=probes[f"acc_{accuracy}"])
    return rows[COLUMNS].reset_index(drop=True)


def probe_over_training(
    cfg: DictConfig,
    run_dir: Path,
    final: nn.Module,
    probes: pd.DataFrame,
    id_data: DatasetSplits,
    ood_data: dict[str, DatasetSplits],
    dataset_keys: dict[str, object],
    make_stage: StageFactory,
) -> pd.DataFrame:
    """``dynamics.csv`` rows for every epoch of ``probe.at_epochs``; ``final`` and ``probes`` are
    the main probe's backbone and ``probe_results`` rows (reused where the weights are equal)."""
    enter_stage("probing over training")
    check_kept_checkpoints(cfg, run_dir)
    run_id = str(probes["run_id"].iloc[0])
    parts = []
    for epoch in kept_epochs(cfg):
        model = load_backbone(cfg, epoch_checkpoint(run_dir, epoch))
        if same_weights(model, final):
            accuracy = effective_accuracy_of(probes, cfg.probe.accuracy)
            parts.append(epoch_rows(probes, epoch, accuracy))
            continue
        report = run_probe_stage(make_stage(cfg, run_dir, model), id_data, ood_data, dataset_keys)
        rows = probe_rows(report, {"run_id": run_id})
        parts.append(epoch_rows(rows, epoch, effective_accuracy(report, cfg.probe.accuracy)))
    return pd.concat(parts, ignore_index=True)


def effective_accuracy_of(probes: pd.DataFrame, which: str) -> str:
    """``which``, or ``best`` when the main probe kept no held-out split (no ``acc_selected``)."""
    return "best" if which == "selected" and probes["acc_selected"].isna().all() else which


def write_dynamics(
    run_dir: Path, table: pd.DataFrame, tracker: Tracker, title: str = ""
) -> dict[str, Path]:
    """Write ``dynamics.csv`` and the figure; mirror both (and the per-epoch tunnel) to the
    tracker. Returns the files by name."""
    path = Path(run_dir) / DYNAMICS
    atomic_write(path, lambda tmp: table.to_csv(tmp, index=False))
    png, pdf = plot_dynamics(table, Path(run_dir) / "dynamics.png", title=title)
    tunnel = tunnel_by_epoch(table)
    tracker.log_tables({"dynamics/tunnel_by_epoch": tunnel}, {}, {"dynamics": png})
    return {"dynamics": path, "dynamics_png": png, "dynamics_pdf": pdf}
