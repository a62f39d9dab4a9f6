"""report.html of a run, a sweep and an analysis dir: content from the files, self-contained."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf
from report_helpers import ID_ACCURACY, RETAINED, TAPS, write_sweep

from tunnellab.errors import TunnellabError
from tunnellab.report import (
    REPORT_HTML,
    write_advice_html,
    write_report,
    write_run_report,
    write_study_report,
)


class Refs(HTMLParser):
    """Every URL-valued attribute and every tag of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "poster", "data") and value is not None:
                self.urls.append((tag, name, value))


def refs(path: Path) -> Refs:
    parser = Refs()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def assert_self_contained(path: Path) -> None:
    parsed = refs(path)
    text = path.read_text(encoding="utf-8")
    for tag, name, value in parsed.urls:
        assert not re.match(r"^(https?:)?//", value), (tag, name, value)
        if tag in ("img", "script", "iframe", "source"):
            assert value.startswith("data:"), (tag, name, value[:40])
    assert "link" not in [t for t in parsed.tags if t == "link" and "stylesheet" in text]
    assert "@import" not in text and "url(http" not in text


def test_run_report_shows_the_run_files(run_dir):
    path = write_run_report(run_dir)
    assert path == run_dir / REPORT_HTML
    html = path.read_text(encoding="utf-8")
    assert_self_contained(path)
    assert f"{100 * ID_ACCURACY:.1f} %" in html  # ID top-1
    for dataset, retained in RETAINED.items():
        assert f"{dataset}: retained" in html and f"{retained:.1f} %" in html
    mean = sum(RETAINED.values()) / len(RETAINED)  # 74.5: strong (< 80)
    assert f"{mean:.1f} %" in html and "strength: strong" in html
    # one hover title per point: 3 curves × TAPS taps, + the rank curve
    titles = re.findall(r"<circle[^>]*><title>([^<]*)</title>", html)
    assert len(titles) == 3 * TAPS + TAPS
    assert "glyphs (ood) · tap 3 (conv3): 50.0 %" in titles
    assert "seed: 0" in html  # config.yaml
    assert html.count('<img src="data:image/png;base64,') == 1  # embeddings.png
    assert 'class="sortable"' in html and "nc1" in html and "rank_fraction" in html


def test_study_report_links_every_run_and_places_it_against_the_paper(sweep_dir):
    path = write_study_report(sweep_dir)
    html = path.read_text(encoding="utf-8")
    assert_self_contained(path)
    hrefs = {v for _, _, v in refs(path).urls}
    for job in ("0", "1", "2"):
        assert (sweep_dir / job / REPORT_HTML).is_file()
        assert f"{job}/{REPORT_HTML}" in hrefs
    bars = re.findall(r"<title>(negligible|weak|medium|strong): (\d+) backbones</title>", html)
    assert [b[0] for b in bars] == ["negligible", "weak", "medium", "strong"]
    assert sum(int(b[1]) for b in bars) == 64  # the paper's 64 backbones
    marks = re.findall(r"<title>([^<]*) \((strong|medium|weak|negligible)\)</title>", html)
    assert len(marks) == 3 and {m[1] for m in marks} == {"strong"}
    assert len(re.findall(r"<figure><svg", html)) >= 3 + 2  # small multiples + standing


def test_study_report_of_24_runs_is_small(tmp_path):
    sweep = write_sweep(tmp_path / "big", jobs=24)
    size = write_study_report(sweep).stat().st_size
    assert size < 5_000_000, size


def test_write_report_dispatches_on_the_directory(run_dir, sweep_dir, tmp_path):
    assert write_report(run_dir) == run_dir / REPORT_HTML
    assert write_report(sweep_dir) == sweep_dir / REPORT_HTML
    analysis = tmp_path / "analysis"
    analysis.mkdir()
    pd.DataFrame(
        {"backbone": ["a", "a", "b"], "dataset": ["x", "y", "x"], "retained": [90.0, 70.0, 99.0]}
    ).to_csv(analysis / "runs.csv", index=False)
    pd.DataFrame({"variable": ["resolution"], "p": [0.03]}).to_csv(
        analysis / "paired_tests.csv", index=False
    )
    html = write_report(analysis).read_text(encoding="utf-8")
    assert "Paired tests" in html and "resolution" in html


@pytest.mark.parametrize("make", [lambda p: p / "missing", lambda p: p])
def test_a_path_without_results_is_one_paragraph(tmp_path, make):
    with pytest.raises(TunnellabError, match=re.escape(str(make(tmp_path)))):
        write_report(make(tmp_path))


def test_cli_fails_with_a_paragraph(tmp_path, capsys):
    from tunnellab.cli.report import main

    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "Traceback" not in err


def test_multirun_callback_writes_the_study_report_unless_turned_off(sweep_dir, compose):
    from tunnellab.cli.callbacks import StudySummaryCallback

    for flag, expected in (("false", False), ("true", True)):
        cfg = compose("logger=csv", "name=lab/smoke", f"report={flag}")
        OmegaConf.set_struct(cfg, False)
        cfg.hydra = {"sweep": {"dir": str(sweep_dir)}}
        StudySummaryCallback().on_multirun_end(cfg)
        assert (sweep_dir / REPORT_HTML).is_file() is expected


def test_advice_html_escapes_the_markdown(tmp_path):
    (tmp_path / "layers.csv").write_text("tap_index,acc_selected\n1,0.5\n2,0.7\n")
    path = write_advice_html(tmp_path, "# Use **tap 2** of `m`\n\n- a <script>x</script>\n")
    html = path.read_text(encoding="utf-8")
    assert "<h1>Use <strong>tap 2</strong> of <code>m</code></h1>" in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html and "<li>" in html
    assert "acc_selected" in html


def test_per_tap_table_matches_taps_not_row_order(run_dir):
    from tunnellab.report.run_page import per_tap_table

    probes = pd.read_csv(run_dir / "probe_results.csv")
    probes = probes[~((probes["dataset"] == "glyphs") & (probes["tap_index"] == 2))]
    frame = per_tap_table(probes.iloc[::-1], "acc_selected")  # rows in any order
    assert frame["tap_index"].tolist() == list(range(1, TAPS + 1))
    assert frame["glyphs (%)"].isna().tolist() == [t == 2 for t in range(1, TAPS + 1)]
    assert frame.loc[2, "glyphs (%)"] == pytest.approx(50.0)  # tap 3
    assert frame["nc1"].tolist() == pytest.approx([10.0 / t for t in range(1, TAPS + 1)])


def test_a_run_dir_with_an_unreadable_table_is_left_out_and_named(tmp_path):
    sweep = write_sweep(tmp_path / "sweep", jobs=3)
    pd.DataFrame({"run_id": ["x"], "acc": [0.5]}).to_csv(sweep / "1" / "probe_results.csv")
    html = write_study_report(sweep).read_text(encoding="utf-8")
    assert "1 run dir(s) left out" in html and "lacks the column(s)" in html
    assert not (sweep / "1" / REPORT_HTML).exists()
    assert (sweep / "0" / REPORT_HTML).is_file() and (sweep / "2" / REPORT_HTML).is_file()
    with pytest.raises(TunnellabError, match=r"lacks the column\(s\) \['dataset', 'role'"):
        write_run_report(sweep / "1")
