"""Experiment tracking for one run: W&B (offline by default), Lightning CSV, or nothing.

One tracker per job, started before pretraining and finished in a ``finally`` so jobs never
share a run. Result files are always written locally; trackers only mirror them.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.loggers import CSVLogger, Logger, WandbLogger

from tunnellab.distributed import is_rank_zero
from tunnellab.tracking.wandb_log import carried_summary, merge_summaries
from tunnellab.tracking.wandb_mode import (
    INIT_TIMEOUT_S,
    REACH_TIMEOUT_S,
    drop_empty_wandb_mode,
    resolve_wandb_mode,
    server_unreachable,
    wandb_base_url,
)
from tunnellab.variables import RUN_VARIABLES

log = logging.getLogger(__name__)


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

    def log_checkpoint(self, path: Path) -> None:
        """Store the probed checkpoint with the run (``logger.log_checkpoint``; W&B only)."""

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
        drop_empty_wandb_mode()
        mode = resolve_wandb_mode(cfg.logger.mode)
        os.environ.setdefault("WANDB_SILENT", "true")
        wandb_id = wandb_run_id(run_id, run_dir)
        self._carried = carried_summary(Path(run_dir) / "wandb", wandb_id)  # earlier launches
        init = {
            "project": cfg.logger.project,
            "entity": cfg.logger.entity,
            "group": cfg.logger.group or cfg.name,
            "job_type": job_type,
            "tags": tags if tags is not None else [*cfg.logger.tags, *variable_tags(cfg)],
            "name": name or readable_name(cfg, run_id),
            "id": wandb_id,
            "resume": "allow",  # a relaunched job continues its own W&B run, never a second one
            "dir": str(run_dir),
            "config": config if config is not None else OmegaConf.to_container(cfg, resolve=True),
            "reinit": "finish_previous",
        }
        self.run, mode, problem = _start_run(wandb, init, mode)
        if problem is not None:
            log.warning(
                "W&B: %s; logging offline to %s; upload later with: %s",
                problem,
                Path(self.run.dir).parent,
                sync_command(run_dir),
            )
        self.mode = mode
        self._log_checkpoint = bool(cfg.logger.get("log_checkpoint", False))
        self.location = str(Path(self.run.dir).parent) if mode != "disabled" else None
        if mode != "disabled":
            define_metrics(self.run)

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
        for row in per_tap_rows(probes):
            self.run.log(row)
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

    def log_checkpoint(self, path: Path) -> None:
        if not self._log_checkpoint or self.mode == "disabled":
            return
        artifact = self._wandb.Artifact(
            f"model-{self.run.id}", type="model", metadata={"file": Path(path).name}
        )
        artifact.add_file(str(path))
        self.run.log_artifact(artifact, aliases=["best"])

    def finish(self, exit_code: int = 0) -> None:
        """Close the run; after a relaunch its summary is the whole run's (every launch)."""
        if self._carried and self.mode != "disabled":
            summary = self.run.summary  # wandb's Summary: keys() and get(), no iteration
            current = {key: summary.get(key) for key in list(summary.keys())}
            merged = merge_summaries(self._carried, current)
            self.run.summary.update({k: v for k, v in merged.items() if current.get(k) != v})
        self.run.finish(exit_code=exit_code)


# What a reader expects of a summary: the best validation accuracy, not the last one.
METRIC_SUMMARIES = {
    "val/acc": "max,last",
    "train/acc": "max,last",
    "train/loss": "min,last",
}
STEP_METRIC = "trainer/global_step"  # what Lightning logs; W&B's own _step restarts per launch
TAP_METRIC = "tap"  # the x-axis of the per-tap probe accuracies (1 = first tap)
PER_TAP = "per_tap"  # per_tap/<id | OOD dataset>/<acc_best | acc_selected | acc_last>
PER_TAP_COLUMNS = ("acc_best", "acc_selected", "acc_last")


def define_metrics(run: Any) -> None:
    """Summaries of the pretraining metrics (:data:`METRIC_SUMMARIES`), plotted against the
    trainer's global step; other keys keep W&B's default (the last value)."""
    run.define_metric(STEP_METRIC)
    for name, summary in METRIC_SUMMARIES.items():
        run.define_metric(name, step_metric=STEP_METRIC, summary=summary)
    for pattern in ("train/*", "val/*", "test/*", "lr-*", "epoch"):
        run.define_metric(pattern, step_metric=STEP_METRIC)
    run.define_metric(TAP_METRIC)
    run.define_metric(f"{PER_TAP}/*", step_metric=TAP_METRIC, summary="max,last")


def per_tap_rows(probes: pd.DataFrame) -> list[dict[str, float | int]]:
    """One W&B history row per tap: ``tap`` and ``per_tap/<name>/<accuracy>`` for every dataset
    (the ID dataset as ``id``, so runs with different ID datasets overlay); NaN left out."""
    rows: dict[int, dict[str, float | int]] = {}
    for rec in probes.sort_values("tap_index").itertuples():
        name = "id" if rec.role == "id" else str(rec.dataset)
        row = rows.setdefault(int(rec.tap_index), {TAP_METRIC: int(rec.tap_index)})
        for column in PER_TAP_COLUMNS:
            value = getattr(rec, column, None)
            if value is not None and not pd.isna(value):
                row[f"{PER_TAP}/{name}/{column}"] = float(value)
    return [rows[t] for t in sorted(rows)]


def sync_command(run_dir: str | Path) -> str:
    """The command that uploads every launch of the run(s) in ``run_dir`` as one W&B run each."""
    return f"wandb sync {Path(run_dir) / 'wandb'}"


def _start_run(wandb: Any, init: dict[str, Any], mode: str) -> tuple[Any, str, str | None]:
    """``wandb.init`` in ``mode``, and why it went offline instead of online (or None).

    Online start-up is bounded: the server must accept a connection within
    :data:`REACH_TIMEOUT_S` and ``wandb.init`` answer within :data:`INIT_TIMEOUT_S`; otherwise
    (network down, no egress, a rejected key) the run is logged offline.
    """
    if mode != "online":
        return wandb.init(**init, mode=mode), mode, None
    problem = server_unreachable(wandb_base_url(), REACH_TIMEOUT_S)
    if problem is None:
        try:
            settings = wandb.Settings(init_timeout=INIT_TIMEOUT_S)
            return wandb.init(**init, mode="online", settings=settings), "online", None
        except Exception as err:  # auth, timeout, server errors: never end the run for W&B
            problem = f"wandb.init failed ({_first_line(err)})"
            wandb.teardown()  # the service still holds the failed run's id
    return wandb.init(**init, mode="offline"), "offline", problem


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


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
