"""``tunnellab-report PATH``: write report.html for a run dir, a sweep dir or an analysis dir.

tunnellab-report outputs/quickstart/2026-01-01_00-00-00      # one run
tunnellab-report outputs/lab_aug/multirun_2026-01-01_00-00-00  # a study (+ each run's report)
tunnellab-report outputs/analysis                              # a tunnellab-analyze out_dir
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from tunnellab.cli.failures import USER_ERROR, fail
from tunnellab.errors import TunnellabError
from tunnellab.report import write_report


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tunnellab-report",
        description="Write a self-contained report.html (figures embedded, works offline) into "
        "a run dir, a sweep dir (also each run's report) or a tunnellab-analyze out_dir.",
    )
    parser.add_argument("path", type=Path, help="run dir, sweep dir or analysis out_dir")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        path = write_report(args.path)
    except TunnellabError as err:
        fail("tunnellab-report", str(err), USER_ERROR)
    print(f"Report: {path}")


if __name__ == "__main__":
    main()
