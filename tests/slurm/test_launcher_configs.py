"""conf/hydra/launcher: each launcher composes; the slurm one renders the sbatch script we mean.

No cluster needed: submitit writes the sbatch text without submitting it. The real cluster test is
``make test-slurm`` (scripts/slurm/test_slurm.sh).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import submitit
from hydra.utils import instantiate
from omegaconf import DictConfig

from tunnellab.config import compose_config, config_dir

LAUNCHERS = {
    "local": "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "joblib": "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "slurm": "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
}


def _compose(*overrides: str) -> DictConfig:
    with warnings.catch_warnings():  # joblib.yaml shares its name with the plugin's schema
        warnings.simplefilter("ignore", UserWarning)
        return compose_config(["experiment=smoke", *overrides], return_hydra_config=True)


def test_the_documented_launchers_exist():  # a cluster's own file may sit beside them
    files = {p.stem for p in (config_dir() / "hydra" / "launcher").glob("*.yaml")}
    assert set(LAUNCHERS) <= files


@pytest.mark.parametrize(("launcher", "target"), LAUNCHERS.items())
def test_each_launcher_composes(launcher, target):
    cfg = _compose(f"hydra/launcher={launcher}")
    assert cfg.hydra.launcher._target_ == target
    assert cfg.name == "smoke"  # the run config is untouched


def test_default_launcher_is_hydras_basic():
    assert _compose().hydra.launcher._target_ == LAUNCHERS["local"]


def test_joblib_n_jobs_is_an_override():
    assert _compose("hydra/launcher=joblib").hydra.launcher.n_jobs == 2
    assert _compose("hydra/launcher=joblib", "hydra.launcher.n_jobs=4").hydra.launcher.n_jobs == 4


def _sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *overrides: str) -> str:
    """The sbatch script hydra/launcher=slurm would submit for a one-job sweep."""
    cfg = _compose("hydra/launcher=slurm", f"hydra.sweep.dir={tmp_path}", *overrides)
    # SlurmExecutor refuses to exist without srun; map_array is where it would submit.
    monkeypatch.setattr(submitit.SlurmExecutor, "affinity", classmethod(lambda cls: 1))
    rendered: list[str] = []

    def fake_map_array(self, fn, *iterables):
        rendered.append(self._executor._make_submission_file_text("COMMAND", "uid"))
        return []

    monkeypatch.setattr(submitit.AutoExecutor, "map_array", fake_map_array)
    launcher = instantiate(cfg.hydra.launcher)
    launcher.config = cfg
    assert launcher.launch([["seed=0"]], initial_job_idx=0) == []
    return rendered[0]


def test_slurm_defaults_reach_sbatch(tmp_path, monkeypatch):
    text = _sbatch(tmp_path, monkeypatch)
    for line in [
        "#SBATCH --job-name=tunnellab-smoke",
        "#SBATCH --time=720",
        "#SBATCH --cpus-per-task=8",
        "#SBATCH --mem=32GB",
        "#SBATCH --ntasks-per-node=1",
        "#SBATCH --signal=USR2@120",
        f"#SBATCH --output={tmp_path}/.submitit/",  # logs: <sweep dir>/.submitit/<job id>/
        '[ -z "$SLURM_CPUS_PER_TASK" ] || export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK',
    ]:
        assert line in text, line
    assert "--partition" not in text and "--gpus-per-node" not in text
    assert "srun --unbuffered" in text  # srun sets SLURM_NTASKS: Lightning's SLURMEnvironment


def test_slurm_resources_are_overrides(tmp_path, monkeypatch):
    text = _sbatch(
        tmp_path,
        monkeypatch,
        "hydra.launcher.partition=gpu",
        "hydra.launcher.timeout_min=90",
        "hydra.launcher.cpus_per_task=6",
        "hydra.launcher.mem_gb=64",
        "hydra.launcher.account=lab",
        "hydra.launcher.signal_delay_s=300",
        "+hydra.launcher.additional_parameters.mail-type=FAIL",
    )
    for line in [
        "#SBATCH --partition=gpu",
        "#SBATCH --time=90",
        "#SBATCH --cpus-per-task=6",
        "#SBATCH --mem=64GB",
        "#SBATCH --account=lab",
        "#SBATCH --signal=USR2@300",
        "#SBATCH --mail-type=FAIL",
    ]:
        assert line in text, line


def test_slurm_ddp_starts_one_task_per_gpu(tmp_path, monkeypatch):
    text = _sbatch(
        tmp_path,
        monkeypatch,
        "trainer=ddp",
        "hydra.launcher.gpus_per_node=4",
        "hydra.launcher.tasks_per_node=4",
    )
    assert "#SBATCH --gpus-per-node=4" in text
    assert "#SBATCH --ntasks-per-node=4" in text
