"""The trainer config checked against the machine and the launcher, before any Trainer exists."""

from __future__ import annotations

import pytest

from tunnellab.errors import ConfigError
from tunnellab.pretrain.launch import check_trainer, device_count, launch_problem

DDP_CPU = {"accelerator": "cpu", "devices": 2, "strategy": "ddp", "num_nodes": 1}
COMMAND = "$(which tunnellab-run) trainer=ddp"


@pytest.mark.parametrize(
    ("accelerator", "devices", "gpus", "expected"),
    [
        ("gpu", "auto", 4, 4), ("cpu", "auto", 4, 1), ("auto", "auto", 0, 1),
        ("auto", "auto", 2, 2), ("gpu", -1, 8, 8), ("gpu", "-1", 8, 8), ("gpu", "0,1", 8, 2),
        ("gpu", [0, 2, 3], 8, 3), ("gpu", "[0, 1]", 8, 2), ("cpu", 2, 0, 2), ("gpu", 1, 8, 1),
    ],
)  # fmt: skip
def test_device_count(accelerator, devices, gpus, expected):
    assert device_count(accelerator, devices, gpus) == expected


def test_device_count_rejects_nonsense():
    with pytest.raises(ConfigError, match=r"trainer\.devices=two"):
        device_count("gpu", "two", 2)


def test_ddp_without_a_launcher_says_how_to_start_it():
    problem = launch_problem(DDP_CPU, {}, 0, COMMAND)
    assert f"`torchrun --nproc_per_node=2 {COMMAND}`" in problem
    assert "hydra/launcher=slurm" in problem and "tasks_per_node=2" in problem
    assert "needs 2 processes" in problem


@pytest.mark.parametrize(
    "env",
    [
        {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "RANK": "1"},
        {"LOCAL_RANK": "1", "WORLD_SIZE": "2"},
        {"SLURM_NTASKS": "2", "SLURM_JOB_NAME": "tunnellab-study"},
        {"LSB_JOBID": "7", "JSM_NAMESPACE_SIZE": "2"},
    ],
)
def test_processes_started_from_outside_are_accepted(env):
    assert launch_problem(DDP_CPU, env, 0, COMMAND) is None


@pytest.mark.parametrize(
    "env",
    [
        {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "tunnellab-study"},  # one task for two devices
        {"SLURM_NTASKS": "2", "SLURM_JOB_NAME": "interactive"},  # an salloc shell, not srun
        {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "1", "LOCAL_RANK": "0"},
    ],
)
def test_a_launcher_with_one_process_is_not_enough(env):
    assert "torchrun" in launch_problem(DDP_CPU, env, 0, COMMAND)


@pytest.mark.parametrize(
    "trainer",
    [
        {**DDP_CPU, "devices": 1},
        {**DDP_CPU, "strategy": "ddp_spawn"},
        {"accelerator": "cpu", "devices": 1, "strategy": "auto"},
        {"accelerator": "gpu", "devices": "auto", "strategy": "ddp"},  # one GPU here
    ],
)
def test_one_process_or_a_self_starting_strategy_is_fine(trainer):
    assert launch_problem(trainer, {}, 1, COMMAND) is None


def test_several_devices_with_the_auto_strategy_need_a_launcher_too():
    trainer = {"accelerator": "cpu", "devices": 2, "strategy": "auto"}
    assert "needs 2 processes" in launch_problem(trainer, {}, 0, COMMAND)


def test_several_nodes_multiply_the_processes():
    trainer = {"accelerator": "gpu", "devices": "auto", "strategy": "ddp", "num_nodes": 2}
    problem = launch_problem(trainer, {}, 4, COMMAND)
    assert "needs 8 processes" in problem and "torchrun --nnodes=2 --nproc_per_node=4" in problem


@pytest.mark.parametrize("accelerator", ["gpu", "cuda"])
def test_gpu_trainer_without_a_gpu(accelerator):
    problem = launch_problem({"accelerator": accelerator, "devices": 1}, {}, 0, COMMAND)
    assert f"'trainer.accelerator={accelerator}' needs a CUDA GPU" in problem
    assert "trainer=cpu" in problem


def test_the_composed_ddp_trainer_is_refused_without_a_launcher(compose, monkeypatch):
    for key in ("TORCHELASTIC_RUN_ID", "LOCAL_RANK", "WORLD_SIZE", "SLURM_NTASKS", "LSB_JOBID"):
        monkeypatch.delenv(key, raising=False)
    cfg = compose("trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2")
    with pytest.raises(ConfigError, match="torchrun --nproc_per_node=2"):
        check_trainer(cfg.trainer)
    check_trainer(compose("trainer=cpu").trainer)


def test_more_gpus_than_the_machine_has():
    trainer = {"accelerator": "gpu", "devices": 4, "strategy": "ddp"}
    problem = launch_problem(trainer, {}, 2, COMMAND)
    assert "asks for 4 GPUs, and this machine has 2" in problem and "torchrun" not in problem
