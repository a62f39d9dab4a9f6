"""Self-contained HTML reports: one file per run, per study (sweep or analysis dir) and for the
advisor, with every figure embedded and nothing fetched from a network when opened."""

from tunnellab.report.pages import (
    ADVICE_HTML,
    write_advice_html,
    write_analysis_report,
    write_report,
    write_run_report,
    write_study_report,
)
from tunnellab.run_identity import REPORT_HTML

__all__ = [
    "ADVICE_HTML",
    "REPORT_HTML",
    "write_advice_html",
    "write_analysis_report",
    "write_report",
    "write_run_report",
    "write_study_report",
]
