"""Fixtures of the report tests: a finished run dir and a small sweep."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_helpers import write_run, write_sweep


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return write_run(tmp_path / "run")


@pytest.fixture
def sweep_dir(tmp_path: Path) -> Path:
    return write_sweep(tmp_path / "multirun")
