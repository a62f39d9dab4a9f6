"""Hydra callbacks of the console scripts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from tunnellab.errors import TunnellabError
from tunnellab.tracking.study import format_study_summary, summarise_study

log = logging.getLogger("tunnellab")


class StudySummaryCallback(Callback):
    """At the end of a multirun, the study tables in the sweep dir (and W&B) and a report.

    Runs in the submitting process once every job has returned, whatever the launcher. Turn it
    off with ``~hydra.callbacks.study_summary``.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            summary = summarise_study(config, sweep_dir)
        except TunnellabError as err:  # a sweep with no usable results is not a failed sweep
            log.warning("No study summary for %s: %s", sweep_dir, err)
            return
        if summary is not None:
            print("\n" + format_study_summary(summary), flush=True)
