"""Hydra callbacks of the console scripts."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from tunnellab.cli.failures import USER_ERROR, fail
from tunnellab.disk import ensure_writable_dir
from tunnellab.errors import DiskError, TunnellabError
from tunnellab.report import write_study_report
from tunnellab.tracking.study import format_study_summary, summarise_study

log = logging.getLogger("tunnellab")


class StudySummaryCallback(Callback):
    """At the end of a multirun, the study tables in the sweep dir (and W&B) and a report.

    Runs in the submitting process once every job has returned, whatever the launcher. Turn it
    off with ``~hydra.callbacks.study_summary``.
    """

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if config.get("continual") is not None:  # continual runs: their own table, no probes
            from tunnellab.continual.study import summarise_continual

            report = summarise_continual(sweep_dir, config)
            if report:
                print("\n" + report, flush=True)
            return
        try:
            summary = summarise_study(config, sweep_dir)
        except TunnellabError as err:  # a sweep with no usable results is not a failed sweep
            log.warning("No study summary for %s: %s", sweep_dir, err)
            return
        if summary is not None:
            print("\n" + format_study_summary(summary), flush=True)
        if summary is not None and config.get("report", True):  # report=false: none
            print(f"Study report: {write_study_report(sweep_dir)}", flush=True)


class WritableOutputDir(Callback):
    """Before Hydra makes the run (or sweep) dir: a folder that cannot be made or written is
    one paragraph naming it (exit status 2), not a traceback from inside Hydra.

    ``key`` is what the message calls the run dir (``out_dir`` for ``tunnellab-analyze``).
    """

    def __init__(self, key: str = "hydra.run.dir") -> None:
        self.key = key

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir", self.key)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir", "hydra.sweep.dir (paths.output_root)")

    @staticmethod
    def _check(config: DictConfig, select: str, key: str) -> None:
        path = OmegaConf.select(config, select)
        if path is None:
            return
        try:
            ensure_writable_dir(str(path), key)
        except DiskError as err:
            fail("tunnellab", str(err), USER_ERROR)
