"""Shared fixtures of the analysis tests: the synthetic study, a sweep dir, the paper table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from analysis_helpers import study_rows, write_run_dir

from tunnellab.analysis.paper_results import load_paper_results
from tunnellab.analysis.table import finalise


@pytest.fixture
def study() -> pd.DataFrame:
    """2 models × 2 resolutions × 2 augmentations × 3 OOD datasets, effects known."""
    return finalise(pd.DataFrame(study_rows()))


@pytest.fixture(scope="session")
def paper_table() -> pd.DataFrame:
    """The released results as a tidy table (parsed once per session)."""
    return load_paper_results()


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    """A multirun-like tree: 8 finished runs (jobs 0..7) and one with only probe_results.csv."""
    root = tmp_path / "sweep" / "multirun_2026-01-01_00-00-00"
    rows = study_rows()
    by_run: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_run.setdefault(str(row["run_id"]), []).append(row)
    for job, run_rows in enumerate(by_run.values()):
        write_run_dir(root / str(job), run_rows)
    extra = [dict(r, run_id="resnet18-32-none") for r in study_rows(("resnet18",), (32,))[:3]]
    write_run_dir(root / "probe_only", extra, metrics=False)
    return tmp_path / "sweep"
