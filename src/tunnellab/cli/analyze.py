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

from tunnellab.analysis.curves import CURVE_BANDS
from tunnellab.analysis.load import WANDB_PREFIX, load_source
from tunnellab.analysis.report import format_summary
from tunnellab.analysis.result import AnalysisOptions
from tunnellab.analysis.stats import CI_DFS
from tunnellab.analysis.study import analyze
from tunnellab.cli.app import hydra_app
from tunnellab.config.rules import at_least, choices
from tunnellab.config.validate import validate_config
from tunnellab.instantiate import dataclass_from_node
from tunnellab.stages import enter_stage

CONFIG_NAME = "analyze"
DEFAULTS = AnalysisOptions()


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
    ci_df: str = field(default=DEFAULTS.ci_df, metadata=choices(*CI_DFS))
    normalise: bool = DEFAULTS.normalise
    figures: bool = DEFAULTS.figures
    curves: bool = DEFAULTS.curves
    curve_band: str = field(default=DEFAULTS.curve_band, metadata=choices(*CURVE_BANDS))
    max_curves: int = field(default=DEFAULTS.max_curves, metadata=at_least(0))
    wandb: WandbSourceConfig = field(default_factory=WandbSourceConfig)


def register_analyze_config() -> None:
    """Store the schema ``conf/analyze.yaml`` extends (idempotent)."""
    ConfigStore.instance().store(name="analyze_schema", node=AnalyzeConfig)


def wandb_cache(cfg: DictConfig) -> Path | None:
    """The cache directory of a W&B source (None for other sources)."""
    source = str(cfg.source)
    if not source.startswith(WANDB_PREFIX):
        return None
    project = source.removeprefix(WANDB_PREFIX).strip("/").replace("/", "__")
    return Path(cfg.wandb.cache_dir) / project


def analyze_command(cfg: DictConfig) -> str:
    """Load the runs of ``cfg.source``, analyse them into ``cfg.out_dir``; return the summary."""
    validate_config(cfg)
    enter_stage("analysis")
    data = load_source(cfg.source, wandb_cache=wandb_cache(cfg), refresh=cfg.wandb.refresh)
    options = dataclass_from_node(AnalysisOptions, cfg)
    return format_summary(analyze(data, Path(cfg.out_dir), options))


register_analyze_config()
main = hydra_app(
    lambda cfg, _run_dir: analyze_command(cfg), config_name=CONFIG_NAME, resumable=False
)
