"""Write report.html for a run dir, a sweep dir or an analysis dir, and advice.html."""

from __future__ import annotations

from pathlib import Path

from tunnellab.errors import TunnellabError
from tunnellab.report.assets import png_image
from tunnellab.report.markdown_lite import markdown_html
from tunnellab.report.render import write_page
from tunnellab.report.run_page import run_context
from tunnellab.report.study_page import analysis_context, is_analysis_dir, sweep_context
from tunnellab.report.tables import read_csv, table
from tunnellab.run_identity import PROBE_RESULTS, REPORT_HTML

ADVICE_HTML = "advice.html"


def write_run_report(run_dir: Path) -> Path:
    """``<run_dir>/report.html`` from the run's files."""
    run_dir = Path(run_dir)
    return write_page(run_dir / REPORT_HTML, "run.html.j2", run_context(run_dir))


def write_study_report(sweep_dir: Path) -> Path:
    """``<sweep_dir>/report.html``; writes each run's report first where it has none. A run dir
    whose tables cannot be read is left out of the page and named in it."""
    from tunnellab.analysis.run_sources import find_run_dirs

    sweep_dir = Path(sweep_dir)
    skipped = []
    for run_dir in find_run_dirs(sweep_dir):
        if run_dir != sweep_dir and not (run_dir / REPORT_HTML).is_file():
            try:
                write_run_report(run_dir)
            except TunnellabError as err:
                skipped.append(f"{run_dir.relative_to(sweep_dir)}: {err}")
    context = sweep_context(sweep_dir, skipped)
    return write_page(sweep_dir / REPORT_HTML, "study.html.j2", context)


def write_analysis_report(out_dir: Path) -> Path:
    """``<out_dir>/report.html`` for a ``tunnellab-analyze`` out_dir."""
    out_dir = Path(out_dir)
    return write_page(out_dir / REPORT_HTML, "study.html.j2", analysis_context(out_dir))


def write_report(path: Path) -> Path:
    """The right report for ``path``: a run dir, an analysis dir or a sweep dir."""
    path = Path(path)
    if not path.is_dir():
        raise TunnellabError(
            f"tunnellab-report: {path} is not a directory. Give it a run dir (with "
            "probe_results.csv), a sweep dir (a multirun's folder) or a tunnellab-analyze out_dir."
        )
    if (path / PROBE_RESULTS).is_file():
        return write_run_report(path)
    if is_analysis_dir(path):
        return write_analysis_report(path)
    from tunnellab.analysis.run_sources import find_run_dirs

    if find_run_dirs(path):
        return write_study_report(path)
    raise TunnellabError(
        f"tunnellab-report: {path} holds no run results (no probe_results.csv in it or below it) "
        "and no tunnellab-analyze outputs (runs.csv + paired_tests.csv). Give it a run dir, a "
        "sweep dir or an analysis out_dir."
    )


def write_advice_html(out_dir: Path, markdown: str) -> Path:
    """``advice.html`` next to ``advice.md``: the text, the layer table and the plot."""
    out_dir = Path(out_dir)
    layers = read_csv(out_dir / "layers.csv")
    plot = png_image(out_dir / "advice.png", "accuracy per layer")
    context = {
        "title": "Layer advice",
        "body": markdown_html(markdown),
        "layers": None if layers is None else table(layers),
        "figures": [plot] if plot else [],
    }
    return write_page(out_dir / ADVICE_HTML, "advice.html.j2", context)
