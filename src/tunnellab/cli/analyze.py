"""``tunnellab-analyze``: the paper's statistics, SHAP slopes, tables and figures over many runs.

A thin Hydra app over ``conf/analyze.yaml``::

    tunnellab-analyze source=paper out_dir=outputs/paper
    tunnellab-analyze source=outputs/quickstart/multirun_2026-01-01_00-00-00
    tunnellab-analyze source=wandb:my-entity/my-project ci_df=n
    tunnellab-analyze source=outputs/paper/runs.csv figures=false

Everything is written into ``out_dir`` (no ``.hydra`` folder, no log file); bad input is
printed as one paragraph and the process exits with status 2.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from tunnellab.cli.app import hydra_app
from tunnellab.config.rules import at_least, choices
from tunnellab.config.validate import validate_config
from tunnellab.stages import enter_stage

CONFIG_NAME = "analyze"
CI_DFS = ("n-1", "n")
CURVE_BANDS = ("std", "ci")


@dataclass
class WandbSourceConfig:
    """Where a ``wandb:<entity>/<project>`` source is cached, and whether to fetch again."""

    cache_dir: str = (
        "outputs/wandb_cache"  # the project's runs go in <cache_dir>/<entity>__<project>
    )
    refresh: bool = False


@dataclass
class AnalyzeConfig:
    """The keys of ``tunnellab-analyze`` (values are checked before anything runs)."""

    source: str = MISSING  # paper | wandb:<entity>/<project> | a sweep/run dir | a runs.csv
    out_dir: str = "outputs/analysis"
    ci_df: str = field(default="n-1", metadata=choices(*CI_DFS))
    normalise: bool = True
    figures: bool = True
    curves: bool = True
    curve_band: str = field(default="std", metadata=choices(*CURVE_BANDS))
    max_curves: int = field(default=100, metadata=at_least(0))
    wandb: WandbSourceConfig = field(default_factory=WandbSourceConfig)


def register_analyze_config() -> None:
    """Store the schema ``conf/analyze.yaml`` extends (idempotent)."""
    ConfigStore.instance().store(name="analyze_schema", node=AnalyzeConfig)


def wandb_cache(cfg: DictConfig) -> Path | None:
    """The cache directory of a W&B source (None for other sources)."""
    source = str(cfg.source)
    if not source.startswith("wandb:"):
        return None
    project = source.removeprefix("wandb:").strip("/").replace("/", "__")
    return Path(cfg.wandb.cache_dir) / project


def analyze_command(cfg: DictConfig) -> str:
    """Load the runs of ``cfg.source``, analyse them into ``cfg.out_dir``; return the summary."""
    from tunnellab.analysis.report import format_summary
    from tunnellab.analysis.sources import load_source
    from tunnellab.analysis.study import AnalysisOptions, analyze

    validate_config(cfg)
    enter_stage("analysis")
    data = load_source(cfg.source, wandb_cache=wandb_cache(cfg), refresh=cfg.wandb.refresh)
    options = AnalysisOptions(
        ci_df=cfg.ci_df,
        normalise=cfg.normalise,
        figures=cfg.figures,
        curves=cfg.curves,
        curve_band=cfg.curve_band,
        max_curves=cfg.max_curves,
    )
    return format_summary(analyze(data, Path(cfg.out_dir), options))


register_analyze_config()
main = hydra_app(
    lambda cfg, _run_dir: analyze_command(cfg), config_name=CONFIG_NAME, resumable=False
)
