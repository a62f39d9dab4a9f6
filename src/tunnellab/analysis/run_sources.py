"""Where runs come from: a sweep/run directory tree, a tidy CSV or the paper's file (W&B:
:mod:`~tunnellab.analysis.wandb_source`; by name: :func:`tunnellab.analysis.load.load_source`).

Every source becomes a :class:`SourceData`: the tidy table of :mod:`tunnellab.analysis.table`
(one row per backbone × OOD dataset) and, when the source has them, the per-tap accuracy rows
that the per-run curve figures need.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from tunnellab.analysis.paper_results import load_paper_results, paper_results_path
from tunnellab.analysis.table import REQUIRED, RUN_VARIABLES, AnalysisError, finalise
from tunnellab.metrics.tunnel import ood_retained, pearson_id_ood, tunnel_start, tunnel_strength
from tunnellab.probe.variants import main_rows

PROBE_RESULTS = "probe_results.csv"
TUNNEL_METRICS = "tunnel_metrics.csv"
RUNS_CSV = "runs.csv"
TAPS_CSV = "taps.csv"
CSV_ERRORS = (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError)
TAP_COLUMNS = ("backbone", "dataset", "role", "tap_index", "tap_name", "accuracy_value")


@dataclass
class SourceData:
    """A source's tidy table, its per-tap rows (or None) and what was done to get them."""

    table: pd.DataFrame
    taps: pd.DataFrame | None
    label: str
    notes: list[str] = field(default_factory=list)


def curve_rows(probes: pd.DataFrame, accuracy: str, backbone: str) -> pd.DataFrame:
    """Per-tap rows of one run, with the accuracy the run's metrics used as ``accuracy_value``."""
    column = f"acc_{accuracy}" if f"acc_{accuracy}" in probes.columns else "acc_best"
    if column not in probes.columns:
        raise AnalysisError(f"Per-tap rows of {backbone} have no {column} column.")
    rows = probes[["dataset", "role", "tap_index", "tap_name"]].copy()
    rows["accuracy_value"] = probes[column].astype(float)
    rows.insert(0, "backbone", backbone)
    return rows.sort_values(["dataset", "tap_index"], kind="stable")


def metrics_from_probes(probes: pd.DataFrame) -> pd.DataFrame:
    """Tunnel metrics from ``probe_results.csv`` alone (``acc_best``; no backbone ID accuracy,
    so ``alignment`` is NaN)."""
    id_rows = probes[probes["role"] == "id"].sort_values("tap_index")
    if id_rows.empty:
        raise AnalysisError("probe_results.csv has no ID rows (role 'id').")
    acc_id = id_rows["acc_best"].to_numpy(float)
    first = id_rows.iloc[0]
    records = []
    for name, rows in probes[probes["role"] == "ood"].groupby("dataset", sort=False):
        acc = rows.sort_values("tap_index")["acc_best"].to_numpy(float)
        retained = ood_retained(acc)
        records.append(
            {
                **{c: first[c] for c in (*RUN_VARIABLES, "run_id") if c in first.index},
                "dataset": name,
                "retained": retained,
                "pearson": pearson_id_ood(acc_id, acc) if acc.size > 1 else float("nan"),
                "alignment": float("nan"),
                "tunnel_start": tunnel_start(acc),
                "strength": tunnel_strength(retained),
                "accuracy": "best",
            }
        )
    return pd.DataFrame(records)


def find_run_dirs(root: Path) -> list[Path]:
    """Every directory under ``root`` (itself included) holding a result table, except the old
    results that ``overwrite=true`` moved into a ``replaced-<time>/`` folder."""
    found = {p.parent for name in (TUNNEL_METRICS, PROBE_RESULTS) for p in root.rglob(name)}
    return sorted(d for d in found if not _replaced(d.relative_to(root)))


def _replaced(path: Path) -> bool:
    return any(part.startswith("replaced-") for part in path.parts)  # run_identity's folders


def read_run_dir(run_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame | None, list[str]]:
    """(metrics, probes or None, notes) of one run dir; :class:`AnalysisError` when its tables
    cannot be read (not a CSV, truncated, missing columns)."""
    metrics_path, probes_path = run_dir / TUNNEL_METRICS, run_dir / PROBE_RESULTS
    notes = []
    try:
        probes = pd.read_csv(probes_path) if probes_path.is_file() else None
        probes = None if probes is None else main_rows(probes)  # trained, no control, linear
        if metrics_path.is_file():
            metrics = pd.read_csv(metrics_path)
        else:
            metrics = metrics_from_probes(probes)
            notes.append(f"{run_dir}: no {TUNNEL_METRICS}; metrics recomputed from acc_best")
    except CSV_ERRORS as err:
        reason = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise AnalysisError(f"{run_dir}: a result table is not a readable CSV ({reason})") from None
    except KeyError as err:
        raise AnalysisError(f"{run_dir}: {PROBE_RESULTS} lacks the column {err}") from None
    for name, table, needed in (
        (TUNNEL_METRICS, metrics, REQUIRED),
        (PROBE_RESULTS, probes, TAP_COLUMNS[1:5]),
    ):
        missing = [] if table is None or table.empty else [c for c in needed if c not in table]
        if missing:
            raise AnalysisError(f"{run_dir}: {name} lacks the column(s) {', '.join(missing)}")
    return metrics, probes, notes


def load_sweep(root: str | Path) -> SourceData:
    """All runs under a sweep (or single run) directory.

    A run dir whose tables cannot be read is skipped and noted; none left is an error.
    """
    root = Path(root)
    if not root.is_dir():
        raise AnalysisError(f"The source directory {root} does not exist.")
    run_dirs = find_run_dirs(root)
    if not run_dirs:
        raise AnalysisError(
            f"No {TUNNEL_METRICS} or {PROBE_RESULTS} was found under {root}; point source= at "
            "a run directory or a sweep directory that holds run directories."
        )
    tables, taps, notes, unreadable = [], [], [], []
    seen: set[str] = set()
    for run_dir in run_dirs:
        try:
            metrics, probes, run_notes = read_run_dir(run_dir)
        except AnalysisError as err:
            unreadable.append(str(err))
            continue
        notes += run_notes
        if metrics.empty:
            notes.append(f"{run_dir}: {TUNNEL_METRICS} has no rows; skipped")
            continue
        run_id = str(metrics["run_id"].iloc[0]) if "run_id" in metrics.columns else str(run_dir)
        if run_id in seen:
            notes.append(f"{run_dir}: run {run_id} already loaded from another directory; skipped")
            continue
        seen.add(run_id)
        metrics = metrics.assign(run_id=run_id, run_dir=str(run_dir))
        tables.append(metrics)
        if probes is not None:
            accuracy = str(metrics["accuracy"].iloc[0]) if "accuracy" in metrics else "best"
            taps.append(curve_rows(probes, accuracy, run_id))
    if unreadable:
        notes.append(
            f"skipped {len(unreadable)} of {len(run_dirs)} run dirs: " + "; ".join(unreadable)
        )
    if not tables:
        detail = "; ".join(unreadable[:3]) or "their tables have no rows"
        raise AnalysisError(
            f"None of the {len(run_dirs)} run dir(s) under {root} holds a usable result table "
            f"({detail}). Rerun those runs (a finished run is skipped, an interrupted one "
            "resumes) or point source= elsewhere."
        )
    table = finalise(pd.concat(tables, ignore_index=True), source=str(root))
    label = f"sweep directory {root} ({len(tables)} runs)"
    return SourceData(table, pd.concat(taps, ignore_index=True) if taps else None, label, notes)


def load_tidy_csv(path: str | Path) -> SourceData:
    """A ``runs.csv`` written by an earlier analysis (or a W&B cache), with its ``taps.csv``."""
    path = Path(path)
    if not path.is_file():
        raise AnalysisError(f"The source file {path} does not exist.")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as err:
        raise AnalysisError(f"The source file {path} is not a readable CSV: {err}.") from None
    taps_path = path.with_name(TAPS_CSV)
    taps = pd.read_csv(taps_path) if taps_path.is_file() else None
    return SourceData(finalise(table, source=str(path)), taps, f"results table {path}")


def load_paper() -> SourceData:
    """The authors' released results shipped with the package."""
    return SourceData(
        load_paper_results(),
        None,
        f"the paper's released results ({paper_results_path().name}, 64 backbones × 8 OOD sets)",
    )
