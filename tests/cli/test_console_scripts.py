"""The console scripts as a user runs them: a summary on success, one paragraph on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

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
    fragments = ["run dir", "probe_results.csv", "scores.csv", "ID top-1", "glyphs", "digits"]
    for fragment in [*fragments, "heldout"]:
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


# --- the other ways a run goes wrong: each is one paragraph, never a traceback wall -----------


def _one_paragraph(out: subprocess.CompletedProcess, status: int = 2) -> str:
    assert out.returncode == status, out.stderr[-3000:]
    assert "Traceback" not in out.stderr + out.stdout
    lines = [line for line in out.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, out.stderr
    return lines[0]


def test_ddp_without_a_launcher_gives_the_torchrun_command(tmp_path):
    run_dir = tmp_path / "run"
    env_keys = ("TORCHELASTIC_RUN_ID", "LOCAL_RANK", "WORLD_SIZE", "SLURM_NTASKS", "LSB_JOBID")
    env = {k: v for k, v in os.environ.items() if k not in env_keys}
    out = subprocess.run(
        [str(BIN / "tunnellab-run"), "experiment=smoke", "trainer=ddp", "trainer.accelerator=cpu",
         "trainer.devices=2", "logger=none", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, env={**env, "HYDRA_FULL_ERROR": ""}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    line = _one_paragraph(out)
    assert "torchrun --nproc_per_node=2 $(which tunnellab-run)" in line
    assert "trainer.devices=2" in line and "hydra/launcher=slurm" in line
    assert not (run_dir / "checkpoints").exists()  # refused before any training


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trainer_on_a_machine_without_one(tmp_path):
    out = _cli("tunnellab-pretrain", "experiment=smoke", "trainer=gpu", "logger=none",
               f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    line = _one_paragraph(out)
    assert "needs a CUDA GPU" in line and "trainer=cpu" in line


@pytest.mark.parametrize("override", ["data.resolution=[", "data.path=/my images (1)"])
def test_an_override_hydra_cannot_parse(tmp_path, override):
    out = _cli("tunnellab-run", "experiment=smoke", override, cwd=tmp_path)
    line = _one_paragraph(out)
    assert f"cannot parse the override '{override}'" in line and "must be quoted" in line


def test_a_run_dir_that_cannot_be_made(tmp_path):
    (tmp_path / "blocker").write_text("a file")
    out = _cli("tunnellab-run", "experiment=smoke", f"hydra.run.dir={tmp_path / 'blocker' / 'run'}",
               cwd=tmp_path)  # fmt: skip
    line = _one_paragraph(out)
    assert "hydra.run.dir" in line and str(tmp_path / "blocker" / "run") in line


def test_a_cache_dir_that_cannot_be_written(tmp_path):
    (tmp_path / "blocker").write_text("a file")
    out = _cli("tunnellab-run", "experiment=smoke", "logger=none",
               f"paths.cache_dir={tmp_path / 'blocker' / 'features'}",
               f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    line = _one_paragraph(out)
    assert line.startswith("tunnellab: error: paths.cache_dir:") and "blocker" in line


def test_pretrained_flag_on_a_model_without_weights(tmp_path):
    out = _cli("tunnellab-probe", "experiment=smoke", "checkpoint=pretrained", "logger=none",
               f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    line = _one_paragraph(out)
    assert "would probe randomly initialised weights" in line and "checkpoint=random_init" in line


def test_torchvision_data_needs_its_dataset_class(tmp_path):
    out = _cli("tunnellab-run", "data=torchvision", f"hydra.run.dir={tmp_path / 'run'}",
               cwd=tmp_path)  # fmt: skip
    line = _one_paragraph(out)
    assert "'data.dataset' has no value" in line and "FashionMNIST" in line


def test_analyze_with_nothing_readable_under_the_source(tmp_path):
    run = tmp_path / "sweep" / "0"
    run.mkdir(parents=True)
    (run / "tunnel_metrics.csv").write_bytes(b"\xff\xfe\x00 not a csv \x00")
    out = _cli("tunnellab-analyze", f"source={tmp_path / 'sweep'}", f"out_dir={tmp_path / 'o'}",
               cwd=tmp_path)  # fmt: skip
    line = _one_paragraph(out)
    assert "None of the 1 run dir(s)" in line and str(run) in line


def test_advise_with_too_few_images_per_class(tmp_path):
    images = tmp_path / "my images (1)"  # quoted for Hydra below
    for i, name in enumerate(["cat", "dog", "owl"]):
        (images / name).mkdir(parents=True)
        Image.fromarray(np.full((32, 32, 3), 60 * i, dtype=np.uint8)).save(images / name / "a.png")
    out = _cli("tunnellab-advise", "model=vggm11", "model.width=0.0625", "checkpoint=random_init",
               f'data.path="{images}"', "data.resolution=32", "logger=none",
               f"hydra.run.dir={tmp_path / 'run'}", cwd=tmp_path)  # fmt: skip
    line = _one_paragraph(out)
    assert "too few images per class" in line and str(images) in line and "'owl'" in line


def test_prepare_into_a_folder_that_cannot_be_made(tmp_path):
    wnid = "n02869837"  # the first class of the CMC list
    for split in ("train", "val"):
        (tmp_path / "in1k" / split / wnid).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(
            tmp_path / "in1k" / split / wnid / "x.JPEG", format="JPEG"
        )
    (tmp_path / "blocker").write_text("a file")
    out = _cli("tunnellab-prepare", "imagenet100", "--imagenet", str(tmp_path / "in1k"),
               "--out", str(tmp_path / "blocker" / "in100"), cwd=tmp_path)  # fmt: skip
    line = _one_paragraph(out)
    assert line.startswith("tunnellab-prepare: error:") and "blocker" in line


def test_unexpected_error_prints_the_log_file_holding_its_traceback(tmp_path):
    script = tmp_path / "broken_app.py"
    script.write_text(
        "from tunnellab.cli.app import hydra_app\n\n"
        "def broken(cfg, run_dir):\n"
        "    raise RuntimeError('boom in the task')\n\n"
        "hydra_app(broken)()\n"
    )
    run_dir = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, str(script), "experiment=smoke", f"hydra.run.dir={run_dir}"],
        cwd=tmp_path, env={**os.environ, "HYDRA_FULL_ERROR": ""}, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    line = _one_paragraph(out, status=1)
    assert "unexpected RuntimeError: boom in the task" in line
    assert str(run_dir / "tunnellab.log") in line
    log = (run_dir / "tunnellab.log").read_text()
    assert "Traceback" in log and "boom in the task" in log
