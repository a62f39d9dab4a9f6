"""Shared plumbing of the thin ``@hydra.main`` entry points."""

from __future__ import annotations

import logging
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import OverrideParseException
from hydra.types import RunMode
from omegaconf import DictConfig

from tunnellab.cli.failures import (
    INTERRUPTED,
    USER_ERROR,
    exit_for,
    fail,
    interrupted_paragraph,
)
from tunnellab.config import config_dir, register_configs, validate_config

log = logging.getLogger("tunnellab")
# conf/hydra/launcher/joblib.yaml shares the plugin's config name on purpose; Hydra warns each job.
warnings.filterwarnings("ignore", message=r".*validated against ConfigStore schema.*")
PROG = "tunnellab"


def override_problem(argv: Sequence[str]) -> str | None:
    """The paragraph for the first command-line override Hydra cannot parse (None if all parse).

    Hydra's own message says what the grammar expected, not which override broke it.
    """
    from hydra._internal.utils import get_args_parser

    try:
        args, _unknown = get_args_parser().parse_known_args(list(argv))
    except SystemExit:  # a bad flag: Hydra's own parser says so
        return None
    parser = OverridesParser.create()
    for override in args.overrides:
        try:
            parser.parse_overrides([override])
        except OverrideParseException as err:
            reason = (str(err).strip().splitlines() or ["bad syntax"])[0]
            return (
                f"cannot parse the override '{override}' ({reason}). Values with brackets, "
                "parentheses, commas, quotes or '=' must be quoted for Hydra, inside the "
                """shell's quotes: 'data.path="/my images (1)"', 'probe.lr_grid=[0.1,0.01]'."""
            )
    return None


def hydra_app(
    task: Callable[[DictConfig, Path], str], config_name: str = "config", resumable: bool = True
) -> Callable[[], None]:
    """Wrap ``task(cfg, run_dir) -> summary`` as a Hydra app over ``conf/``.

    The config is validated first. A user-fixable error is printed as one paragraph and the
    process exits with status 2 (in a multirun the job fails and Hydra reports it); any other
    error prints its type and the log file holding its traceback (status 1); Ctrl-C says where
    the command stopped and that rerunning it resumes (status 130). ``resumable`` is False for
    commands with nothing to resume.
    """
    register_configs()

    def job(cfg: DictConfig) -> None:
        hydra_cfg = HydraConfig.get()
        run_dir = Path(hydra_cfg.runtime.output_dir)
        try:
            validate_config(cfg)
            summary = task(cfg, run_dir)
        except Exception as err:
            if hydra_cfg.mode == RunMode.MULTIRUN:
                raise
            exit_for(PROG, err, run_dir)
        if summary:
            print(summary, flush=True)

    job.__name__ = task.__name__
    job.__doc__ = task.__doc__
    main = hydra.main(config_path=str(config_dir()), config_name=config_name, version_base="1.3")(
        job
    )

    def entry() -> None:
        problem = override_problem(sys.argv[1:])
        if problem is not None:
            fail(PROG, problem, USER_ERROR)
        try:
            main()
        except KeyboardInterrupt:
            fail(PROG, interrupted_paragraph(resumable), INTERRUPTED)

    entry.__name__ = task.__name__
    entry.__doc__ = task.__doc__
    return entry
