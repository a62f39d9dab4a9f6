"""Runs of a W&B project, fetched once through ``wandb.Api`` and cached as local CSV files.

Each tunnellab run logs its tunnel metrics (with the run variables) as the table
``tunnel/metrics`` and its per-tap accuracies as ``probe/curves``; both are read back here from
the run's summary. The result is cached (``runs.csv`` + ``taps.csv`` in the cache directory) and
later analyses read the cache without touching the network unless ``refresh`` is set.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from tunnellab.analysis.run_sources import RUNS_CSV, TAPS_CSV, SourceData, curve_rows, load_tidy_csv
from tunnellab.analysis.table import AnalysisError, finalise

METRICS_TABLE = "tunnel/metrics"
CURVES_TABLE = "probe/curves"
SOURCE_JSON = "source.json"


def _check_path(path: str) -> str:
    parts = path.strip().strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        raise AnalysisError(
            f"source=wandb:{path} must name a W&B project as wandb:<entity>/<project>."
        )
    return "/".join(parts)


def _summary(run: Any) -> Mapping[str, Any]:
    summary = getattr(run, "summary_metrics", None)
    return summary if isinstance(summary, Mapping) else dict(run.summary)


def read_table(
    run: Any, summary: Mapping[str, Any], key: str, scratch: Path
) -> pd.DataFrame | None:
    """A W&B table logged under ``key`` (via the run's summary), or None if there is none."""
    ref = summary.get(key)
    if not isinstance(ref, Mapping) or "path" not in ref:
        return None
    with run.file(ref["path"]).download(root=str(scratch / str(run.id)), replace=True) as handle:
        payload = json.load(handle)
    return pd.DataFrame(payload["data"], columns=payload["columns"])


def fetch_wandb(path: str, api: Any | None = None) -> SourceData:
    """Fetch every run of ``entity/project`` that logged its tunnel metrics table."""
    path = _check_path(path)
    try:
        if api is None:
            import wandb

            api = wandb.Api()
        runs = list(api.runs(path))
    except AnalysisError:
        raise
    except Exception as err:  # network, authentication, unknown project: all the user's to fix
        raise AnalysisError(
            f"Could not list the runs of the W&B project {path}: {err}. Log in (wandb login or "
            "WANDB_API_KEY) and check the network, or analyse a cached copy with "
            "source=<cache dir>/runs.csv."
        ) from None
    tables, taps, notes = [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        for run in runs:
            summary = _summary(run)
            metrics = read_table(run, summary, METRICS_TABLE, Path(scratch))
            if metrics is None or metrics.empty:
                notes.append(f"W&B run {run.id} ({run.name}) has no {METRICS_TABLE} table; skipped")
                continue
            if "run_id" not in metrics.columns:
                metrics["run_id"] = str(run.name)
            metrics["wandb_id"] = str(run.id)
            tables.append(metrics)
            curves = read_table(run, summary, CURVES_TABLE, Path(scratch))
            if curves is not None and not curves.empty:
                accuracy = str(metrics["accuracy"].iloc[0]) if "accuracy" in metrics else "best"
                taps.append(curve_rows(curves, accuracy, str(metrics["run_id"].iloc[0])))
    if not tables:
        raise AnalysisError(
            f"No run of the W&B project {path} has a {METRICS_TABLE} table "
            f"({len(runs)} run(s) listed); were they tunnellab runs that finished?"
        )
    table = finalise(pd.concat(tables, ignore_index=True), source=f"wandb:{path}")
    label = f"W&B project {path} ({len(tables)} runs)"
    return SourceData(table, pd.concat(taps, ignore_index=True) if taps else None, label, notes)


def write_cache(data: SourceData, cache_dir: Path, path: str) -> None:
    """Store a fetched source as ``runs.csv`` (+ ``taps.csv``) with a note of its origin."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    data.table.to_csv(cache_dir / RUNS_CSV, index=False)
    if data.taps is not None:
        data.taps.to_csv(cache_dir / TAPS_CSV, index=False)
    info = {"source": f"wandb:{path}", "fetched": datetime.now(timezone.utc).isoformat()}
    (cache_dir / SOURCE_JSON).write_text(json.dumps(info, indent=2))


def load_wandb(
    path: str, cache_dir: str | Path | None, refresh: bool = False, api: Any | None = None
) -> SourceData:
    """A W&B project's runs: from the cache when it holds this project, else fetched and cached."""
    path = _check_path(path)
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None and not refresh and (cache / RUNS_CSV).is_file():
        info = (
            json.loads((cache / SOURCE_JSON).read_text()) if (cache / SOURCE_JSON).is_file() else {}
        )
        if info.get("source") in (None, f"wandb:{path}"):
            data = load_tidy_csv(cache / RUNS_CSV)
            data.label = (
                f"W&B project {path} (cached in {cache}, fetched {info.get('fetched', '?')})"
            )
            data.notes.append(f"read from the cache {cache}; refresh with wandb.refresh=true")
            return data
    data = fetch_wandb(path, api=api)
    if cache is not None:
        write_cache(data, cache, path)
        data.notes.append(f"cached in {cache} (runs.csv, taps.csv): later runs read it offline")
    return data
