"""A run killed mid-training resumes from its last checkpoint and ends with the same numbers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow

OVERRIDES = [
    "experiment=smoke",
    "optim.epochs=6",
    "data.samples_per_class=150",
    "aug=rrc_flip",  # augmentation draws must replay exactly too
]


def _start(run_dir: Path) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "tunnellab-run"),
        *OVERRIDES,
        f"hydra.run.dir={run_dir}",
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_killed_run_resumes_and_matches_an_uninterrupted_run(tmp_path):
    reference = tmp_path / "reference"
    assert _start(reference).wait(timeout=300) == 0

    interrupted = tmp_path / "interrupted"
    proc = _start(interrupted)
    last = interrupted / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 120
    while not last.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (interrupted / "tunnel_metrics.csv").exists()
    # Killed mid-training (epochs left), with the record of the config that started it.
    assert not (interrupted / "checkpoints" / "pretrain.json").exists()
    assert (interrupted / "checkpoints" / "identity.json").is_file()

    resumed = _start(interrupted)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err.decode()[-2000:]
    cols = ["dataset", "tap_index", "acc_best", "acc_last", "acc_selected"]
    ref = pd.read_csv(reference / "probe_results.csv")[cols]
    got = pd.read_csv(interrupted / "probe_results.csv")[cols]
    pd.testing.assert_frame_equal(got, ref)
