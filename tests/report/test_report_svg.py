"""The inline SVG figures: round ticks, one hover title per point, escaped text."""

from __future__ import annotations

import re

import pytest

from tunnellab.report.svg import Series, _ticks, histogram, line_chart, scatter


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(0, 100, [0, 20, 40, 60, 80, 100]), (56, 99, [60, 70, 80, 90]), (0, 39, [0, 10, 20, 30])],
)
def test_ticks_are_round(lo, hi, expected):
    assert _ticks(lo, hi) == pytest.approx(expected)


def test_line_chart_titles_each_point_and_escapes():
    svg = line_chart([Series("a<b", [1, 2, 3], [10.0, 20.0, float("nan")], ["t1", "t2", "t3"])])
    titles = re.findall(r"<title>([^<]*)</title>", svg)
    assert titles == ["a&lt;b · t1: 10.0 %", "a&lt;b · t2: 20.0 %"]  # NaN: no point
    assert "<b" not in svg.replace("<b ", "")


def test_histogram_and_scatter_mark_the_runs():
    svg = histogram(["weak", "strong"], [2, 5], [("run 0", "strong"), ("run 1", "nowhere")])
    assert svg.count("(strong)</title>") == 1 and "nowhere" not in svg
    svg = scatter([(90.0, 60.0, "r")], band=[70.0, 80.0], band_label="paper")
    assert "r: ID 90.0 %, retained 60.0 %" in svg and svg.count("paper: ") == 2
