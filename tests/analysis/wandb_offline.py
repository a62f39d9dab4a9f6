"""A W&B project made of real offline runs, served the way ``wandb.Api`` serves a project.

The project's own tracker (:class:`tunnellab.tracking.tracker.WandbTracker`, offline) logs each
run; wandb's own reader of a run's transaction log (``wandb leet inspect --summary --json``)
gives its name, id, config and summary; the table files are the ones the run wrote. No field of
the fake is made up here: a change of what the tracker logs, or of W&B's summary format, shows.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

import pandas as pd
from analysis_helpers import TAPS

from tunnellab.config import compose_config
from tunnellab.tracking.tracker import WandbTracker


def _curves(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Per-tap accuracies of one run: ID (lab) and each OOD dataset, as ``probe_results.csv``."""
    records = [
        {"dataset": name, "role": role, "tap_index": t + 1, "tap_name": f"conv{t + 1}",
         "acc_best": round(0.1 * (t + 1) + 0.01 * k, 4), "acc_last": 0.1, "acc_selected": 0.2}
        for k, (name, role) in enumerate([("lab", "id")] + [(r["dataset"], "ood") for r in rows])
        for t in range(TAPS)
    ]  # fmt: skip
    return pd.DataFrame(records)


def log_offline_run(root: Path, run_id: str, rows: list[dict[str, Any]] | None) -> Path:
    """One real offline W&B run of ``run_id`` in ``root/run_id``: its tunnel metrics (``rows``,
    one per OOD dataset) and curves, as a finished run logs them; ``rows=None`` is a run that
    failed before its results. Returns the run's offline directory."""
    first = rows[0] if rows else {"model": "vggm11", "resolution": 32, "augmentation": "none"}
    cfg = compose_config(
        [
            "logger=wandb",
            "logger.mode=offline",
            "logger.project=proj",
            f"model={first['model']}",
            f"data.resolution={first['resolution']}",
            f"aug={first['augmentation']}",
        ]
    )
    run_dir = root / run_id
    tracker = WandbTracker(cfg, run_dir, run_id)
    try:
        if rows:
            metrics = pd.DataFrame([dict(r, accuracy="best") for r in rows])
            tracker.log_results(_curves(rows), metrics, {"id_accuracy": 0.9}, "acc_best", {})
    finally:
        tracker.finish(exit_code=0 if rows else 1)
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    return offline


def inspect_run(offline_dir: Path) -> dict[str, Any]:
    """wandb's own reading of an offline run: state, name, id, config, summary."""
    done = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", str(offline_dir), "--summary", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class OfflineFile:
    """``Run.file(name)``: ``download`` copies the run's file under ``root`` and opens it."""

    def __init__(self, files_dir: Path, name: str) -> None:
        self.name, self._source = name, files_dir / name

    def download(self, root: str = ".", replace: bool = False, exist_ok: bool = False) -> IO:
        target = Path(root) / self.name
        if target.exists() and not replace:
            if exist_ok:
                return target.open()
            raise ValueError("File already exists, pass replace=True to overwrite")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self._source, target)
        return target.open()


class OfflineRun:
    """One run as ``wandb.Api().runs(path)`` yields it, read from its offline directory."""

    def __init__(self, offline_dir: Path) -> None:
        info = inspect_run(offline_dir)
        self.id, self.name, self.state = info["run_id"], info["name"], info["state"]
        self.config: dict[str, Any] = info["config"]
        self.summary_metrics: dict[str, Any] = info["summary"]
        self.tags: list[str] = info.get("tags", [])
        self._files = offline_dir / "files"

    def file(self, name: str) -> OfflineFile:
        return OfflineFile(self._files, name)


class OfflineApi:
    """``wandb.Api`` over runs already read; records the project paths asked for."""

    def __init__(self, runs: list[OfflineRun]) -> None:
        self._runs, self.paths = runs, []

    def runs(self, path: str, **_: object) -> list[OfflineRun]:
        self.paths.append(path)
        return self._runs
