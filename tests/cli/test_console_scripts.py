"""The console scripts as a user runs them: a summary on success, one paragraph on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _cli(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "WANDB_MODE": "offline", "HYDRA_FULL_ERROR": ""}
    return subprocess.run(
        [str(BIN / name), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.parametrize("script", ["tunnellab-run", "tunnellab-pretrain", "tunnellab-probe"])
def test_bad_value_is_one_paragraph_without_traceback(script, tmp_path):
    out = _cli(script, "data.resolution=-3", f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)
    assert out.returncode == 2
    assert "data.resolution=-3" in out.stderr and "[16, 224]" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


def test_unknown_model_lists_the_choices(tmp_path):
    out = _cli("tunnellab-run", "model=vggm13", cwd=tmp_path)
    assert out.returncode != 0
    assert "vggm13" in out.stderr and "vggm11" in out.stderr
    assert "Traceback" not in out.stderr


def test_probe_without_a_checkpoint_says_what_to_pass(tmp_path):
    out = _cli(
        "tunnellab-probe", "experiment=smoke", f"hydra.run.dir={tmp_path / 'r'}", cwd=tmp_path
    )
    assert out.returncode == 2
    assert "best.ckpt" in out.stderr and "checkpoint=" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_pretrain_then_probe_in_one_run_dir(tmp_path):
    run_dir = tmp_path / "run"
    pre = _cli("tunnellab-pretrain", "experiment=smoke", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert pre.returncode == 0, pre.stderr
    assert "best val top-1" in pre.stdout
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    probe = _cli("tunnellab-probe", "experiment=smoke", f"hydra.run.dir={run_dir}", cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    for fragment in ["run dir", "probe_results.csv", "ID top-1", "glyphs", "digits", "heldout"]:
        assert fragment in probe.stdout
    assert (run_dir / "tunnel_metrics.csv").is_file()
    assert not (tmp_path / "outputs").exists()  # nothing outside the run dir


@pytest.mark.slow
def test_multirun_gives_each_job_its_own_run_dir(tmp_path):
    out = _cli(
        "tunnellab-run", "-m", "experiment=smoke", "seed=0,1", f"paths.output_root={tmp_path}",
        cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    jobs = sorted(tmp_path.glob("smoke/multirun_*/[0-9]"))
    assert [j.name for j in jobs] == ["0", "1"]
    seeds = [(j / "config.yaml").read_text().count("seed: 1") for j in jobs]
    assert seeds[0] == 0 and seeds[1] >= 1
    for job in jobs:
        assert (job / "tunnel_metrics.csv").is_file()
