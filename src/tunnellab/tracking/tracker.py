"""Experiment tracking for one run: W&B (offline by default), Lightning CSV, or nothing.

One tracker per job, started before pretraining and finished in a ``finally`` so jobs never
share a run. Result files are always written locally; trackers only mirror them.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

from tunnellab.distributed import is_rank_zero
from tunnellab.tracking.wandb_mode import resolve_wandb_mode
from tunnellab.variables import RUN_VARIABLES


class Tracker:
    """No tracking: the base class, used for ``logger=none``."""

    kind = "none"
    location: str | None = None

    def lightning_loggers(self) -> list[Logger]:
        return []

    def log_results(
        self,
        probes: pd.DataFrame,
        metrics: pd.DataFrame,
        summary: dict[str, Any],
        curve_column: str,
        figures: dict[str, Path],
    ) -> None:
        """Mirror the run's tables, headline numbers (``curve_column`` per tap) and figures."""

    def log_tables(
        self,
        tables: dict[str, pd.DataFrame],
        summary: dict[str, Any],
        figures: dict[str, Path],
    ) -> None:
        """Mirror named tables, summary values and figures (the advisor's outputs, say)."""

    def finish(self, exit_code: int = 0) -> None:
        """Close the run (always called, also after a failure)."""


class CsvTracker(Tracker):
    """Lightning's CSV logger writes pretraining metrics to ``<run dir>/csv/``."""

    kind = "csv"

    def __init__(self, run_dir: Path) -> None:
        self._logger = CSVLogger(save_dir=str(run_dir), name="csv", version="")
        self.location = str(run_dir / "csv")

    def lightning_loggers(self) -> list[Logger]:
        return [self._logger]


class WandbTracker(Tracker):
    """A W&B run in ``<run dir>/wandb``: pretraining curves, per-tap tables and line plots."""

    kind = "wandb"

    def __init__(
        self,
        cfg: DictConfig,
        run_dir: Path,
        run_id: str,
        job_type: str = "run",
        name: str | None = None,
        tags: list[str] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        """A run of ``cfg``'s project and group; ``name``, ``tags`` and ``config`` default to
        the job's readable name, its variable tags and the resolved config."""
        import wandb

        self._wandb = wandb
        mode = resolve_wandb_mode(cfg.logger.mode)
        os.environ.setdefault("WANDB_SILENT", "true")
        self.run = wandb.init(
            project=cfg.logger.project,
            entity=cfg.logger.entity,
            group=cfg.logger.group or cfg.name,
            job_type=job_type,
            tags=tags if tags is not None else [*cfg.logger.tags, *variable_tags(cfg)],
            name=name or readable_name(cfg, run_id),
            id=wandb_run_id(run_id, run_dir),
            resume="allow",  # a relaunched job continues its own W&B run, never a second one
            dir=str(run_dir),
            mode=mode,
            config=config if config is not None else OmegaConf.to_container(cfg, resolve=True),
            reinit="finish_previous",
        )
        self.mode = mode
        self.location = str(Path(self.run.dir).parent) if mode != "disabled" else None

    def lightning_loggers(self) -> list[Logger]:
        return [WandbLogger(experiment=self.run)]

    def log_results(
        self,
        probes: pd.DataFrame,
        metrics: pd.DataFrame,
        summary: dict[str, Any],
        curve_column: str,
        figures: dict[str, Path],
    ) -> None:
        wandb = self._wandb
        columns = [
            "dataset",
            "role",
            "tap_index",
            "tap_name",
            "acc_best",
            "acc_last",
            "acc_selected",
        ]
        columns += [c for c in ("lr", "rank", "rank_fraction", "nc1") if c in probes.columns]
        self.run.log({"probe/curves": wandb.Table(dataframe=probes[columns])})
        self.run.log({"tunnel/metrics": wandb.Table(dataframe=metrics)})
        curves = probes.pivot(index="tap_index", columns="dataset", values=curve_column)
        datasets = list(dict.fromkeys(probes["dataset"]))
        chart = wandb.plot.line_series(
            xs=[int(t) for t in curves.index],
            ys=[curves[d].tolist() for d in datasets],
            keys=datasets,
            title=f"Linear-probe accuracy per tap ({curve_column})",
            xname="tap",
        )
        self.run.log({"probe/accuracy_per_tap": chart})
        for name, path in figures.items():
            self.run.log({f"figures/{name}": wandb.Image(str(path))})
        self.run.summary.update(summary)

    def log_tables(
        self,
        tables: dict[str, pd.DataFrame],
        summary: dict[str, Any],
        figures: dict[str, Path],
    ) -> None:
        wandb = self._wandb
        self.run.log({name: wandb.Table(dataframe=df) for name, df in tables.items()})
        for name, path in figures.items():
            self.run.log({f"figures/{name}": wandb.Image(str(path))})
        self.run.summary.update(summary)

    def finish(self, exit_code: int = 0) -> None:
        self.run.finish(exit_code=exit_code)


def wandb_run_id(run_id: str, run_dir: Path) -> str:
    """A stable W&B id for this config in this run dir (same job relaunched → same W&B run)."""
    digest = hashlib.sha256(f"{run_id}|{Path(run_dir).resolve()}".encode()).hexdigest()[:16]
    return f"tl-{digest}"


def variable_tags(cfg: DictConfig) -> list[str]:
    """Tags for the study variables, so W&B can filter and group by them (``res=224``)."""
    return [f"{v.tag}={v.from_config(cfg)}" for v in RUN_VARIABLES if v.tag is not None]


def readable_name(cfg: DictConfig, run_id: str) -> str:
    """``<name>:<overrides>`` inside a Hydra job (e.g. ``quickstart:model=vggm11,seed=1``)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        overrides = HydraConfig.get().job.override_dirname
        if overrides:
            return f"{cfg.name}:{overrides}"
    return run_id


def start_tracker(cfg: DictConfig, run_dir: Path, run_id: str, job_type: str = "run") -> Tracker:
    """The tracker that ``logger.kind`` asks for; ``job_type`` is pretrain, probe or run.

    Only global rank 0 of a multi-process job tracks, so a DDP job is one W&B run.
    """
    if not is_rank_zero():
        return Tracker()
    if cfg.logger.kind == "wandb":
        return WandbTracker(cfg, run_dir, run_id, job_type)
    if cfg.logger.kind == "csv":
        return CsvTracker(run_dir)
    return Tracker()
