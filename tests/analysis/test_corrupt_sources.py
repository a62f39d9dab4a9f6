"""A sweep dir with damaged result tables: bad runs are skipped and counted, never fatal alone."""

from __future__ import annotations

import pytest

from tunnellab.analysis.load import load_source
from tunnellab.analysis.table import AnalysisError


def test_corrupt_tables_are_skipped_and_counted(sweep_dir):
    jobs = sorted(sweep_dir.glob("*/[0-9]"))
    (jobs[0] / "tunnel_metrics.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary junk")
    (jobs[1] / "tunnel_metrics.csv").write_text("")  # cut off before the header
    (jobs[2] / "tunnel_metrics.csv").write_text("a,b\n1,2\n")  # a CSV, not a results table
    data = load_source(str(sweep_dir))
    assert data.table["backbone"].nunique() == 9 - 3
    note = next(n for n in data.notes if n.startswith("skipped 3 of 9 run dirs"))
    for job in jobs[:3]:
        assert str(job) in note
    assert "lacks the column(s)" in note and "not a readable CSV" in note


def test_nothing_readable_left_is_one_clear_error(tmp_path):
    run = tmp_path / "sweep" / "0"
    run.mkdir(parents=True)
    (run / "tunnel_metrics.csv").write_bytes(b"\xff\xfe\x00garbage\x00")
    with pytest.raises(AnalysisError) as err:
        load_source(str(tmp_path / "sweep"))
    message = str(err.value)
    assert "None of the 1 run dir(s)" in message and str(run) in message
