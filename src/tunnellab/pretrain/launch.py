"""Checks of the trainer config against the machine and the way the process was started.

Lightning's DDP strategy, started as one plain process, re-executes the command line once per
extra device: behind Hydra's back (a second run dir, a second multirun). tunnellab refuses that
and says how to start one process per device from outside (torchrun, or SLURM tasks). A GPU
trainer on a machine without a GPU is refused too, before any data is loaded.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from tunnellab.errors import ConfigError

GPU_ACCELERATORS = ("gpu", "cuda")
#: strategies that start their processes themselves, without re-executing the command line
SELF_STARTING = ("spawn", "fork", "notebook")
SLURM_INTERACTIVE = ("bash", "interactive")


def gpu_count() -> int:
    """CUDA devices PyTorch can use here."""
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def uses_gpu(accelerator: str, gpus: int) -> bool:
    return accelerator in GPU_ACCELERATORS or (accelerator == "auto" and gpus > 0)


def device_count(accelerator: str, devices: Any, gpus: int) -> int:
    """How many devices (one process each) ``trainer.devices`` asks for on this machine."""
    if isinstance(devices, Sequence) and not isinstance(devices, str):
        return len(devices)
    text = str(devices).strip().strip("[]")
    if "," in text:
        return len([part for part in text.split(",") if part.strip()])
    gpu = uses_gpu(accelerator, gpus)
    if text == "auto":
        return gpus if gpu else 1
    try:
        count = int(text)
    except ValueError:
        raise ConfigError(
            f"'trainer.devices={devices}' is not allowed; trainer.devices must be auto, a number "
            "(-1 = all), or a list of device indices such as [0,1]."
        ) from None
    if count == -1:
        return gpus if gpu else (os.cpu_count() or 1)
    return count


def launched_processes(env: Mapping[str, str]) -> int | None:
    """The number of processes an outside launcher started (torchrun, srun, jsrun), or None."""
    if "TORCHELASTIC_RUN_ID" in env or ("LOCAL_RANK" in env and "WORLD_SIZE" in env):
        return int(env.get("WORLD_SIZE", "1") or 1)
    if "SLURM_NTASKS" in env and env.get("SLURM_JOB_NAME") not in SLURM_INTERACTIVE:
        return int(env["SLURM_NTASKS"] or 1)
    if "LSB_JOBID" in env and "JSM_NAMESPACE_SIZE" in env:
        return int(env["JSM_NAMESPACE_SIZE"] or 1)
    return None


def launch_problem(
    trainer: Mapping[str, Any], env: Mapping[str, str], gpus: int, command: str
) -> str | None:
    """Why ``trainer`` cannot start from this process (None when it can).

    ``command`` is the user's command line after the script (for the torchrun suggestion).
    """
    accelerator = str(trainer.get("accelerator", "cpu"))
    if accelerator in GPU_ACCELERATORS and gpus == 0:
        return (
            f"'trainer.accelerator={accelerator}' needs a CUDA GPU, and this machine has none "
            "that PyTorch can use (torch.cuda.is_available() is False); use trainer=cpu, or "
            "run on a machine with a GPU."
        )
    strategy = str(trainer.get("strategy", "auto"))
    nodes = int(trainer.get("num_nodes", 1) or 1)
    devices = trainer.get("devices", 1)
    per_node = device_count(accelerator, devices, gpus)
    if uses_gpu(accelerator, gpus) and per_node > gpus:
        return (
            f"'trainer.devices={devices}' asks for {per_node} GPUs, and this machine has "
            f"{gpus}; use trainer.devices={gpus} (or auto), or run on a machine with more GPUs."
        )
    processes = per_node * nodes
    if processes <= 1 or any(word in strategy for word in SELF_STARTING):
        return None
    started = launched_processes(env)
    if started is not None and started > 1:
        return None  # Lightning joins them (and checks that the counts agree)
    nnodes = f" --nnodes={nodes}" if nodes > 1 else ""
    return (
        f"'trainer.strategy={strategy}' with trainer.devices={devices} and "
        f"trainer.num_nodes={nodes} needs {processes} processes, one per device, started from "
        "outside; this one was started alone (no torchrun or SLURM task environment), and "
        "Lightning would re-execute the command line behind Hydra's back. Start it with "
        f"torchrun: `torchrun{nnodes} --nproc_per_node={per_node} {command}`; or on SLURM with "
        "hydra/launcher=slurm, one task per GPU: `... -m hydra/launcher=slurm trainer=ddp "
        f"hydra.launcher.gpus_per_node={per_node} hydra.launcher.tasks_per_node={per_node}`; "
        "or use one device (trainer=gpu, trainer=cpu)."
    )


def command_line() -> str:
    """``$(which <script>) <overrides>``: how this command was started, for a suggestion."""
    script = Path(sys.argv[0]).name if sys.argv else ""
    if not script.startswith("tunnellab-"):
        script = "tunnellab-run"
    overrides: list[str] = []
    try:
        from hydra.core.hydra_config import HydraConfig

        if HydraConfig.initialized():
            given = HydraConfig.get().overrides
            overrides = [o for o in given.hydra if not o.startswith("hydra.mode=")]
            overrides += list(given.task)
    except (ImportError, ValueError):
        overrides = []
    words = [shlex.quote(o) for o in overrides] or ["<your overrides>"]
    return " ".join([f"$(which {script})", *words])


def check_trainer(trainer: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` when ``trainer`` cannot run here as this process was started."""
    problem = launch_problem(trainer, os.environ, gpu_count(), command_line())
    if problem is not None:
        raise ConfigError(problem)
