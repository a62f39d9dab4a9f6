"""End of a continual multirun: every run's ``continual.csv`` → mean ± s.d. per table cell."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from tunnellab.atomic import atomic_write_text
from tunnellab.continual.table import COMBINATIONS, CONTINUAL_CSV
from tunnellab.tracking.study import summary_tracker

CONTINUAL_STUDY = "continual_study.csv"
CELL = ["resolution", "tunnel_choice", "combination", "task"]


def continual_tables(sweep_dir: Path) -> pd.DataFrame:
    """The ``continual.csv`` rows of every run under ``sweep_dir`` (moved-aside ones left out)."""
    found = Path(sweep_dir).rglob(CONTINUAL_CSV)
    paths = sorted(p for p in found if not any(x.startswith("replaced-") for x in p.parts))
    return (
        pd.concat([pd.read_csv(p) for p in paths], ignore_index=True) if paths else pd.DataFrame()
    )


def continual_study(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean and seed s.d. (ddof 1; 0 for one seed) of the accuracy, in %, per table cell."""
    order = {c: i for i, c in enumerate(COMBINATIONS)}
    grouped = rows.assign(accuracy=100 * rows["accuracy"]).groupby(CELL, sort=False)
    out = grouped["accuracy"].agg(["mean", "std", "count"]).reset_index()
    out["std"] = out["std"].fillna(0.0)
    out["seeds"] = grouped["seed"].apply(lambda s: " ".join(str(v) for v in sorted(s))).values
    out["tunnel_layers"] = grouped["tunnel_layers"].agg(lambda s: " ".join(sorted(set(s)))).values
    out = out.rename(columns={"mean": "accuracy_mean", "std": "accuracy_std", "count": "runs"})
    return out.sort_values(
        ["resolution", "tunnel_choice", "combination", "task"],
        key=lambda s: s.map(order) if s.name == "combination" else s,
    ).reset_index(drop=True)


def log_continual_study(cfg: DictConfig, sweep_dir: Path, study: pd.DataFrame) -> str | None:
    """One W&B run in the study's group holding the continual study table (``logger=wandb``)."""
    if cfg.logger.kind != "wandb":
        return None
    tracker = summary_tracker(cfg, sweep_dir, ["continual"], {"cells": len(study)})
    try:
        tracker.log_tables({"study/continual": study}, {"runs": int(study["runs"].max())}, {})
        return tracker.location
    finally:
        tracker.finish()


def summarise_continual(sweep_dir: str | Path, cfg: DictConfig | None = None) -> str | None:
    """Write ``continual_study.csv`` into the sweep dir (and W&B with ``cfg``); the report
    (None without results)."""
    sweep_dir = Path(sweep_dir)
    rows = continual_tables(sweep_dir)
    if rows.empty:
        return None
    study = continual_study(rows)
    path = sweep_dir / CONTINUAL_STUDY
    atomic_write_text(path, study.to_csv(index=False))
    location = log_continual_study(cfg, sweep_dir, study) if cfg is not None else None
    lines = [f"continual study: {path} (top-1 %, mean ± s.d. over seeds)"]
    if location:
        lines.append(f"  W&B {location}")
    for r in study.itertuples():
        lines.append(
            f"  {r.resolution}² {r.tunnel_choice:<6} {r.combination:<17} task {r.task}: "
            f"{r.accuracy_mean:5.1f} ± {r.accuracy_std:4.1f}  (n={r.runs}, taps {r.tunnel_layers})"
        )
    return "\n".join(lines)
