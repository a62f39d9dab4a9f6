"""Ctrl-C mid-training: one line, exit status 130, no probing of a half-trained model; the same
command then resumes from ``last.ckpt`` and finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

EPOCHS = 6
COMMAND = [
    str(Path(sys.executable).parent / "tunnellab-run"),
    "experiment=smoke",
    f"optim.epochs={EPOCHS}",
    "data.samples_per_class=150",
    "logger=none",
]


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(tmp_path):
    run_dir = tmp_path / "run"
    command = [*COMMAND, f"hydra.run.dir={run_dir}"]
    env = {**os.environ, "HYDRA_FULL_ERROR": ""}
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)

    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("tunnellab: interrupted during pretraining; rerun the same command")
    epoch = torch.load(last, map_location="cpu", weights_only=False)["epoch"]
    assert epoch < EPOCHS - 1  # epochs remained: the test cannot pass by finishing first
    for name in ("checkpoints/pretrain.json", "tunnel_metrics.csv", "done.json", "features"):
        assert not (run_dir / name).exists(), name  # nothing went on to probing

    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"resuming pretraining from {last}" in (run_dir / "tunnellab.log").read_text()
    pretrain = (run_dir / "checkpoints" / "pretrain.json").read_text()
    assert f'"epochs_run": {EPOCHS}' in pretrain
    assert (run_dir / "tunnel_metrics.csv").is_file() and (run_dir / "done.json").is_file()
