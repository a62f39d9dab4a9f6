"""The console scripts: thin Hydra apps around the plain functions of :mod:`tunnellab.pipeline`.

``tunnellab-run`` pretrains then probes, ``tunnellab-pretrain`` only trains the backbone and
``tunnellab-probe`` probes an existing checkpoint. All share the ``conf/`` tree and overrides.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from tunnellab.cli.app import hydra_app
from tunnellab.cli.summary import format_pretrain_summary, format_run_summary
from tunnellab.pipeline import run, run_pretrain, run_probe


def run_command(cfg: DictConfig, run_dir: Path) -> str:
    """Pretrain a backbone, then probe every tap on the ID set and each OOD set."""
    if cfg.get("continual") is not None:  # experiment=*/continual: the continual stage instead
        from tunnellab.continual.stage import format_continual, run_continual

        return format_continual(run_continual(cfg, run_dir))
    result = run(cfg, run_dir)
    return "" if result is None else format_run_summary(result)


def pretrain_command(cfg: DictConfig, run_dir: Path) -> str:
    """Pretrain only; the best-validation checkpoint lands in the run dir."""
    return format_pretrain_summary(run_pretrain(cfg, run_dir), run_dir)


def probe_command(cfg: DictConfig, run_dir: Path) -> str:
    """Probe every tap of ``checkpoint`` (default: the run dir's best checkpoint)."""
    return format_run_summary(run_probe(cfg, run_dir))


run_main = hydra_app(run_command)
pretrain_main = hydra_app(pretrain_command)
probe_main = hydra_app(probe_command)
