"""A real two-process DDP job on CPU (gloo), started the way a cluster starts it: one process per
rank from outside (torchrun here, srun under SLURM), never a re-launch of Hydra's command line.
Every rank trains on its own shard; only rank 0 probes, writes and tracks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


def test_two_rank_ddp_run_writes_one_result(tmp_path):
    bin_dir = Path(sys.executable).parent
    run_dir = tmp_path / "ddp"
    cmd = [
        str(bin_dir / "torchrun"), "--standalone", "--nproc_per_node=2",
        str(bin_dir / "tunnellab-run"), "experiment=smoke", "trainer=ddp",
        "trainer.accelerator=cpu", "trainer.devices=2", "trainer.precision=32-true",
        "logger=wandb", "logger.mode=offline", f"hydra.run.dir={run_dir}",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "WANDB_MODE": "offline"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in done.stderr + done.stdout

    info = json.loads((run_dir / "done.json").read_text())
    assert info["world_size"] == 2
    pretrain = json.loads((run_dir / "checkpoints" / "pretrain.json").read_text())
    assert pretrain["world_size"] == 2 and pretrain["epochs_run"] >= 1
    assert pretrain["batch_size_per_device"] == 16  # optim.batch_size=32 is the global batch
    metrics = pd.read_csv(run_dir / "tunnel_metrics.csv")
    assert metrics["retained"].between(0, 100).all() and len(metrics) == 3
    assert len(list((run_dir / "wandb").glob("offline-run-*"))) == 1  # rank 0 only
    assert sorted(p.name for p in run_dir.glob("*.csv")) == [
        "probe_results.csv",
        "scores.csv",
        "tunnel_metrics.csv",
    ]
