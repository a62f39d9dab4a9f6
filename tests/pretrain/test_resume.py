"""A run killed mid-training resumes from its last checkpoint and ends with the same numbers.

The test cannot pass by the run finishing first: the kill must land (exit by SIGKILL) with fewer
epochs checkpointed than the run has, and the relaunch must train only the epochs after them
(Lightning's CSV log of the relaunch starts there)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

pytestmark = pytest.mark.slow

EPOCHS = 6
OVERRIDES = [
    "experiment=smoke",
    f"optim.epochs={EPOCHS}",
    "data.samples_per_class=150",
    "aug=rrc_flip",  # augmentation draws must replay exactly too
    "logger=csv",  # <run dir>/csv/metrics.csv: the epochs each launch trained
]


def _start(run_dir: Path) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "tunnellab-run"),
        *OVERRIDES,
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _trained_epochs(run_dir: Path) -> list[int]:
    """The epochs the last launch trained, from Lightning's CSV log (rewritten per launch)."""
    log = pd.read_csv(run_dir / "csv" / "metrics.csv")
    return sorted({int(e) for e in log["epoch"].dropna()})


def test_killed_run_resumes_and_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    assert _start(reference).wait(timeout=300) == 0
    assert _trained_epochs(reference) == list(range(EPOCHS))

    interrupted = tmp_path / "interrupted"
    proc = _start(interrupted)
    last = interrupted / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert last.is_file(), "no last.ckpt before the run ended or the deadline"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill landed"
    assert not (interrupted / "tunnel_metrics.csv").exists()
    # Killed mid-training (epochs left), with the record of the config that started it.
    assert not (interrupted / "checkpoints" / "pretrain.json").exists()
    assert (interrupted / "checkpoints" / "identity.json").is_file()
    done_epochs = torch.load(last, map_location="cpu", weights_only=False)["epoch"] + 1
    assert 1 <= done_epochs < EPOCHS, done_epochs

    resumed = _start(interrupted)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-2000:]
    assert _trained_epochs(interrupted) == list(range(done_epochs, EPOCHS))  # resumed, not redone
    cols = ["dataset", "tap_index", "acc_best", "acc_last", "acc_selected"]
    ref = pd.read_csv(reference / "probe_results.csv")[cols]
    got = pd.read_csv(interrupted / "probe_results.csv")[cols]
    pd.testing.assert_frame_equal(got, ref)
