"""The study-level summary of a sweep: one row per run and one per level, on disk and in W&B.

Written when a multirun ends (:class:`tunnellab.cli.callbacks.StudySummaryCallback`) into the
sweep dir as ``study_runs.csv`` and ``study_levels.csv``; with ``logger=wandb`` the same tables go
to one W&B run of the study's group (``job_type=summary``, a stable id per sweep dir, so a
relaunched sweep updates it instead of adding a second one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml
from omegaconf import DictConfig

from tunnellab.analysis.run_sources import find_run_dirs, load_sweep
from tunnellab.analysis.study_figure import plot_study_retained
from tunnellab.analysis.table import level_text, natural_key, sorted_levels
from tunnellab.atomic import atomic_write_text
from tunnellab.metrics.tunnel import tunnel_strength
from tunnellab.tracking.tracker import WandbTracker
from tunnellab.variables import variable_names

STUDY_RUNS = "study_runs.csv"
STUDY_LEVELS = "study_levels.csv"
STUDY_FIGURE = "study_retained"  # .png + .pdf
#: The run variables a study varies (the derived ones, depth or stem, follow ``model``).
STUDY_VARIABLES: tuple[str, ...] = variable_names(studied=True)


@dataclass
class StudySummary:
    """A sweep's runs and per-level means, where they were written and where W&B has them."""

    name: str
    sweep_dir: Path
    runs: pd.DataFrame
    levels: pd.DataFrame
    variables: list[str]
    files: dict[str, Path] = field(default_factory=dict)
    wandb_dir: Path | None = None
    wandb_offline: bool = False


def job_overrides(run_dir: Path) -> list[str]:
    """The job's command-line overrides (``data.resolution=64``, ``seed=1``) from Hydra."""
    record = run_dir / ".hydra" / "overrides.yaml"
    if not record.is_file():
        return []
    return [str(o) for o in yaml.safe_load(record.read_text()) or []]  # raw: never resolved


def distinct_overrides(per_job: list[list[str]]) -> list[str]:
    """Each job's overrides without those every job shares: what tells the jobs apart."""
    shared = set.intersection(*(set(o) for o in per_job)) if len(per_job) > 1 else set()
    return [",".join(o for o in overrides if o not in shared) for overrides in per_job]


def study_runs(sweep_dir: str | Path) -> pd.DataFrame:
    """One row per finished run under ``sweep_dir``: its variables, ID top-1 and % retained.

    ``retained/<dataset>`` per OOD set, then their mean and the strength of that mean.
    """
    sweep_dir = Path(sweep_dir)
    table = load_sweep(sweep_dir).table
    records, overrides = [], []
    for run_id, rows in table.groupby("run_id", sort=False):
        first = rows.iloc[0]
        run_dir = Path(first["run_dir"])
        job = run_dir.relative_to(sweep_dir).as_posix() if run_dir != sweep_dir else "."
        overrides.append(job_overrides(run_dir))
        record: dict[str, Any] = {"job": job, "overrides": "", "run_id": run_id}
        record.update({c: first.get(c) for c in (*STUDY_VARIABLES, "seed")})
        diversity = first.get("id_diversity")
        record["id_diversity"] = float("nan") if pd.isna(diversity) else float(diversity)
        record["id_accuracy"] = 100 * float(first.get("id_accuracy", float("nan")))
        for dataset, retained in zip(rows["dataset"], rows["retained"], strict=True):
            record[f"retained/{dataset}"] = float(retained)
        record["retained_mean"] = float(rows["retained"].mean())
        record["pearson_mean"] = float(rows["pearson"].mean())
        record["strength"] = tunnel_strength(record["retained_mean"])
        records.append(record)
    runs = pd.DataFrame(records)
    runs["overrides"] = distinct_overrides(overrides)
    order = sorted(range(len(runs)), key=lambda i: natural_key(runs["job"].iloc[i]))
    return runs.iloc[order].reset_index(drop=True)


def swept_variables(runs: pd.DataFrame) -> list[str]:
    """The study variables that take more than one value across the runs (seeds excluded)."""
    return [c for c in STUDY_VARIABLES if c in runs.columns and runs[c].nunique(dropna=False) > 1]


def study_levels(runs: pd.DataFrame, variables: list[str]) -> pd.DataFrame:
    """Mean and seed standard deviation of every number per level of the swept variables."""
    numbers = ["id_accuracy", *[c for c in runs.columns if c.startswith("retained")]]
    numbers += ["pearson_mean"]
    numbers += [c for c in ("id_diversity",) if c in runs.columns]
    keys = variables or ["study"]
    frame = runs.assign(study="all") if not variables else runs
    records = []
    for level, rows in frame.groupby(keys, sort=False, dropna=False):
        level = level if isinstance(level, tuple) else (level,)
        record: dict[str, Any] = dict(zip(keys, level, strict=True))
        record["runs"] = len(rows)
        record["seeds"] = " ".join(str(int(s)) for s in sorted(rows["seed"].dropna()))
        for column in numbers:
            record[column] = float(rows[column].mean())
            record[f"{column}_std"] = float(rows[column].std(ddof=1)) if len(rows) > 1 else 0.0
        records.append(record)
    levels = pd.DataFrame(records)
    for key in reversed(keys):
        order = {v: i for i, v in enumerate(sorted_levels(levels[key]))}
        levels = levels.sort_values(key, key=lambda s: s.map(order), kind="stable")
    return levels.reset_index(drop=True)


def write_study_summary(name: str, sweep_dir: str | Path) -> StudySummary | None:
    """Summarise the finished runs of a sweep into its dir; None when it holds no results."""
    sweep_dir = Path(sweep_dir)
    if not find_run_dirs(sweep_dir):
        return None
    runs = study_runs(sweep_dir)
    variables = swept_variables(runs)
    levels = study_levels(runs, variables)
    files = {"runs": sweep_dir / STUDY_RUNS, "levels": sweep_dir / STUDY_LEVELS}
    atomic_write_text(files["runs"], runs.to_csv(index=False))
    atomic_write_text(files["levels"], levels.to_csv(index=False))
    title = f"{name}: % OOD retained at the last tap (bars: mean ± 1 s.d.; dots: runs)"
    files["figure"] = plot_study_retained(runs, variables, sweep_dir / STUDY_FIGURE, title)[0]
    return StudySummary(name, sweep_dir, runs, levels, variables, files)


def summary_tracker(
    cfg: DictConfig, sweep_dir: Path, tags: list[str], config: dict[str, Any]
) -> WandbTracker:
    """The W&B run of a study's summary, in the study's group: one per sweep dir, resumed when
    the sweep is relaunched."""
    return WandbTracker(
        cfg,
        sweep_dir,
        run_id="study-summary",  # with the sweep dir: one W&B run per study launch
        job_type="summary",
        name=f"{cfg.name}:summary",
        tags=[*cfg.logger.tags, "study-summary", *tags],
        config={"study": str(cfg.name), "sweep_dir": str(sweep_dir), **config},
    )


def log_study_summary(cfg: DictConfig, summary: StudySummary) -> None:
    """One W&B run in the study's group holding the study tables (``logger=wandb`` only)."""
    if cfg.logger.kind != "wandb":
        return
    tracker = summary_tracker(
        cfg,
        summary.sweep_dir,
        [f"varies={v}" for v in summary.variables],
        {"runs": len(summary.runs), "variables": summary.variables},
    )
    try:
        headline = {"runs": len(summary.runs)}
        headline["retained_mean"] = float(summary.runs["retained_mean"].mean())
        tracker.log_tables(
            {"study/runs": summary.runs, "study/levels": summary.levels},
            headline,
            {"study_retained": summary.files["figure"]},
        )
        summary.wandb_dir = Path(tracker.location) if tracker.location else None
        summary.wandb_offline = tracker.mode == "offline"
    finally:
        tracker.finish()


def summarise_study(cfg: DictConfig, sweep_dir: str | Path) -> StudySummary | None:
    """Write the study tables of a finished sweep and mirror them to W&B when asked."""
    summary = write_study_summary(str(cfg.name), sweep_dir)
    if summary is not None:
        log_study_summary(cfg, summary)
    return summary


def format_study_summary(summary: StudySummary) -> str:
    """The end-of-sweep report: where the tables went and % retained per level."""
    variables = summary.variables or ["study"]
    datasets = [c for c in summary.levels.columns if c.startswith("retained/")]
    datasets = [c for c in datasets if not c.endswith("_std")]
    lines = [
        f"tunnellab ▸ study {summary.name}: {len(summary.runs)} runs"
        + (f", varying {', '.join(summary.variables)}" if summary.variables else ""),
        f"  sweep dir    {summary.sweep_dir}",
        f"  tables       {summary.files['runs'].name}, {summary.files['levels'].name}",
        f"  figure       {summary.files['figure'].name} (+ .pdf)",
    ]
    if summary.wandb_dir is not None:
        lines += [f"  W&B          {summary.wandb_dir}  (group {summary.name}, job_type summary)"]
    if summary.wandb_offline:
        lines += [
            f"  upload       wandb sync {summary.sweep_dir}/wandb/offline-run-* "
            f"{summary.sweep_dir}/*/wandb/offline-run-*",
        ]
    widths = {v: max(14, len(v) + 2) for v in variables}
    header = "".join(f"{v:>{widths[v]}}" for v in variables) + f"{'runs':>6}{'ID top-1':>10}"
    header += "".join(f"{d.removeprefix('retained/'):>15}" for d in datasets) + f"{'mean':>15}"
    lines += ["", "  % OOD retained at the last tap, mean ± std over seeds", "  " + header]
    for values in summary.levels.to_dict("records"):
        cells = "".join(f"{level_text(values[v]):>{widths[v]}}" for v in variables)
        cells += f"{values['runs']:>6}{values['id_accuracy']:>9.1f}%"
        for column in (*datasets, "retained_mean"):
            cells += f"{values[column]:>8.1f} ± {values[f'{column}_std']:4.1f}"
        lines.append("  " + cells)
    return "\n".join(lines)
