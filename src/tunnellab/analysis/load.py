"""A source named on the command line (``source=...``) → its :class:`SourceData`."""

from __future__ import annotations

from pathlib import Path

from tunnellab.analysis.run_sources import SourceData, load_paper, load_sweep, load_tidy_csv
from tunnellab.analysis.table import AnalysisError
from tunnellab.analysis.wandb_source import load_wandb

PAPER = "paper"
WANDB_PREFIX = "wandb:"


def load_source(
    source: str,
    wandb_cache: str | Path | None = None,
    refresh: bool = False,
    api: object | None = None,
) -> SourceData:
    """``paper``, ``wandb:entity/project``, a directory of runs, or a tidy ``.csv`` file."""
    source = str(source).strip()
    if source == PAPER:
        return load_paper()
    if source.startswith(WANDB_PREFIX):
        return load_wandb(source[len(WANDB_PREFIX) :], wandb_cache, refresh=refresh, api=api)
    path = Path(source).expanduser()
    if path.is_dir():
        return load_sweep(path)
    if path.suffix.lower() == ".csv":
        return load_tidy_csv(path)
    raise AnalysisError(
        f"source={source!r} is neither 'paper', 'wandb:<entity>/<project>', an existing "
        "directory of runs (holding tunnel_metrics.csv / probe_results.csv) nor a runs .csv file."
    )
