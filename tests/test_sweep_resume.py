"""Never lose work: a sweep killed mid-training and relaunched ends exactly like an uninterrupted
one, with one W&B run per job; relaunching a finished sweep trains nothing.

The test cannot pass by the sweep finishing first: the kill must land (exit by SIGKILL) while job
1 has fewer epochs checkpointed than it trains, and the relaunched job 1 must log only the epochs
after them (its W&B run's history, read with wandb's own reader)."""

from __future__ import annotations

import json
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

EPOCHS = 5
SWEEP = [
    "-m", "experiment=lab/smoke_sweep", f"optim.epochs={EPOCHS}", "data.samples_per_class=120",
    "logger=wandb", "logger.mode=offline",
]  # fmt: skip
COLUMNS = ["dataset", "tap_index", "acc_best", "acc_last", "acc_selected"]


def _launch(sweep_dir: Path, args: list[str] = SWEEP) -> subprocess.Popen:
    cmd = [
        str(Path(sys.executable).parent / "tunnellab-run"),
        *args,
        f"hydra.sweep.dir={sweep_dir}",
    ]
    env = {**os.environ, "WANDB_MODE": "offline"}
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
    )


def _finish(proc: subprocess.Popen) -> None:
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err.decode()[-3000:]


def _results(sweep_dir: Path) -> dict[str, pd.DataFrame]:
    return {
        job.name: pd.read_csv(job / "probe_results.csv")[COLUMNS]
        for job in sorted(sweep_dir.glob("[0-9]"))
    }


def _logged_epochs(wandb_dir: Path) -> list[int]:
    """The training epochs the most recent W&B run in ``wandb_dir`` logged, as wandb reads its
    transaction log (``wandb leet inspect --json``: one record a line)."""
    latest = max(wandb_dir.glob("offline-run-*/run-*.wandb"), key=lambda p: p.stat().st_mtime_ns)
    done = subprocess.run(
        [sys.executable, "-m", "wandb", "leet", "inspect", str(latest.parent), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    items = [r["history"]["item"] for r in records if r.get("type") == "history"]
    return sorted({int(item["epoch"]) for item in items if "epoch" in item})


def test_killed_sweep_relaunches_to_the_same_results(tmp_path, wandb_run_ids):
    reference = tmp_path / "reference"
    _finish(_launch(reference))

    sweep = tmp_path / "sweep"
    proc = _launch(sweep)
    victim = sweep / "1" / "checkpoints" / "last.ckpt"  # job 0 done, job 1 mid-training
    deadline = time.monotonic() + 300
    while not victim.is_file() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert victim.is_file(), "job 1 wrote no last.ckpt before the sweep ended or the deadline"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the sweep ended before the kill landed"
    assert (sweep / "0" / "done.json").is_file() and not (sweep / "1" / "done.json").exists()
    # Killed mid-training (not after it): the relaunch has epochs left to resume.
    assert not (sweep / "1" / "checkpoints" / "pretrain.json").exists()
    assert not (sweep / "2").exists()  # jobs 2 and 3 had not started
    job0_done = (sweep / "0" / "done.json").stat().st_mtime_ns
    done_epochs = torch.load(victim, map_location="cpu", weights_only=False)["epoch"] + 1
    assert 1 <= done_epochs < EPOCHS, done_epochs

    _finish(_launch(sweep))
    # Job 1 resumed: the relaunch trained (and logged) only the epochs after its checkpoint.
    assert _logged_epochs(sweep / "1" / "wandb") == list(range(done_epochs, EPOCHS))
    assert _logged_epochs(reference / "1" / "wandb") == list(range(EPOCHS))
    got, want = _results(sweep), _results(reference)
    assert list(got) == ["0", "1", "2", "3"]
    for job in want:
        pd.testing.assert_frame_equal(got[job], want[job])
    assert (sweep / "0" / "done.json").stat().st_mtime_ns == job0_done  # not rerun
    # One W&B run per job: the relaunched job continued the run it had started.
    for job in got:
        ids = wandb_run_ids(sweep / job / "wandb")
        assert len(ids) == 1, (job, ids)

    # Relaunching the finished sweep trains nothing: no checkpoint or result file is rewritten.
    watched = [p for j in got for p in (sweep / j).rglob("*") if p.suffix in {".ckpt", ".json"}]
    stamps = {p: p.stat().st_mtime_ns for p in watched}
    _finish(_launch(sweep))
    assert {p: p.stat().st_mtime_ns for p in watched} == stamps

    # The study summary (Hydra's multirun-end callback) covers every job, from one W&B run.
    study = pd.read_csv(sweep / "study_runs.csv")
    assert study["job"].astype(str).tolist() == ["0", "1", "2", "3"]
    for job, row in zip(got, study.itertuples(), strict=True):
        metrics = pd.read_csv(sweep / job / "tunnel_metrics.csv")
        assert row.retained_mean == pytest.approx(metrics["retained"].mean())
    assert len(wandb_run_ids(sweep / "wandb")) == 1


def test_a_sweep_relaunched_with_another_override_is_refused_job_by_job(tmp_path):
    """Same sweep dir, a changed override: every job refuses, nothing is reused or relabelled."""
    sweep = tmp_path / "sweep"
    base = ["-m", "experiment=smoke", "seed=0,1", "logger=none"]
    _finish(_launch(sweep, base))
    jobs = [sweep / "0", sweep / "1"]
    kept = {p: p.read_bytes() for j in jobs for p in j.rglob("*") if p.suffix in {".ckpt", ".csv"}}
    overrides = {j: (j / ".hydra" / "overrides.yaml").read_text() for j in jobs}

    proc = _launch(sweep, [*base, "optim.epochs=3"])
    _, err = proc.communicate(timeout=600)
    assert proc.returncode != 0
    assert "optim.epochs 2 → 3" in err.decode() and "overwrite=true" in err.decode()
    assert {p: p.read_bytes() for p in kept} == kept
    for job in jobs:  # each job checked its own dir and put back Hydra's record of its overrides
        assert (job / ".hydra" / "overrides.yaml").read_text() == overrides[job], job
        assert not list(job.glob("replaced-*"))
