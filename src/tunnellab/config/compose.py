"""Compose a validated run config without a command line (for tests, notebooks, pipelines)."""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from tunnellab.config.paths import config_dir
from tunnellab.config.store import register_configs
from tunnellab.config.validate import validate_config


def compose_config(
    overrides: Sequence[str] = (), config_name: str = "config", return_hydra_config: bool = False
) -> DictConfig:
    """The config ``tunnellab-run`` would see for these overrides, validated."""
    register_configs()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        cfg = compose(
            config_name, overrides=list(overrides), return_hydra_config=return_hydra_config
        )
    return validate_config(cfg)
