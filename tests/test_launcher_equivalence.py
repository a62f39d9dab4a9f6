"""The launcher never changes the numbers: with the CPU thread count pinned (``threads=1``), a
parallel joblib sweep gives bit-identical results to the same sweep run one job at a time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

from tunnellab.pipeline import pin_cpu_threads

pytestmark = pytest.mark.slow

SWEEP = ["-m", "experiment=smoke", "seed=0,1", "logger=none", "threads=1"]
COLUMNS = ["dataset", "tap_index", "acc_best", "acc_last", "acc_selected"]


def _sweep(sweep_dir: Path, *launcher: str) -> dict[str, pd.DataFrame]:
    cmd = [str(Path(sys.executable).parent / "tunnellab-run"), *SWEEP, *launcher]
    done = subprocess.run(
        [*cmd, f"hydra.sweep.dir={sweep_dir}"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for job in ("0", "1"):
        assert json.loads((sweep_dir / job / "done.json").read_text())["torch_threads"] == 1
    return {j: pd.read_csv(sweep_dir / j / "probe_results.csv")[COLUMNS] for j in ("0", "1")}


def test_joblib_sweep_equals_the_sequential_sweep(tmp_path):
    sequential = _sweep(tmp_path / "local")
    parallel = _sweep(tmp_path / "joblib", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    for job, frame in sequential.items():
        pd.testing.assert_frame_equal(parallel[job], frame)


def test_threads_pins_torch(compose):
    before = torch.get_num_threads()
    try:
        pin_cpu_threads(compose("threads=1"))
        assert torch.get_num_threads() == 1
        torch.set_num_threads(before)
        pin_cpu_threads(compose())  # null: left as it is
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(before)
