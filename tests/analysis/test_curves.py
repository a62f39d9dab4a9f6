"""Smoke tests for the tunnel-curve plot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunnellab.analysis.curves import plot_tunnel_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

TAPS = ["conv1", "conv2", "conv3", "conv4", "conv5"]
ID_CURVE = [0.2, 0.5, 0.8, 0.9, 0.95]
OOD = {"glyphs": [0.1, 0.4, 0.5, 0.35, 0.26], "digits": [0.3, 0.5, 0.6, 0.62, 0.66]}


def _assert_valid_outputs(paths: list[Path]) -> None:
    assert len(paths) == 2
    png, pdf = paths
    assert png.suffix == ".png" and pdf.suffix == ".pdf"
    assert png.stat().st_size > 10_000
    assert pdf.stat().st_size > 5_000
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    assert pdf.read_bytes()[:5] == b"%PDF-"


def test_writes_png_and_pdf(tmp_path: Path) -> None:
    paths = plot_tunnel_curves(ID_CURVE, OOD, TAPS, tmp_path / "sub" / "fig", title="demo")
    assert paths == [tmp_path / "sub" / "fig.png", tmp_path / "sub" / "fig.pdf"]
    _assert_valid_outputs(paths)


def test_suffix_is_replaced(tmp_path: Path) -> None:
    paths = plot_tunnel_curves(ID_CURVE, OOD, TAPS, str(tmp_path / "fig.png"))
    assert paths == [tmp_path / "fig.png", tmp_path / "fig.pdf"]
    _assert_valid_outputs(paths)


def test_raw_single_panel_and_given_starts(tmp_path: Path) -> None:
    paths = plot_tunnel_curves(
        ID_CURVE,
        OOD,
        TAPS,
        tmp_path / "raw",
        tunnel_starts={"glyphs": 3, "digits": None},
        normalise=False,
        id_label="CIFAR-10",
    )
    _assert_valid_outputs(paths)


def test_many_taps_and_no_ood(tmp_path: Path) -> None:
    n = 60
    taps = [f"blocks.{i}" for i in range(n)]
    curve = [0.1 + 0.8 * i / (n - 1) for i in range(n)]
    _assert_valid_outputs(plot_tunnel_curves(curve, {}, taps, tmp_path / "many"))


def test_mismatched_tap_names_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tap_names"):
        plot_tunnel_curves(ID_CURVE, OOD, TAPS[:-1], tmp_path / "bad")
    with pytest.raises(ValueError, match="glyphs"):
        plot_tunnel_curves(ID_CURVE, {"glyphs": [0.1, 0.2]}, TAPS, tmp_path / "bad")
    assert not list(tmp_path.iterdir())


def test_bad_tunnel_starts_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tunnel_starts"):
        plot_tunnel_curves(ID_CURVE, OOD, TAPS, tmp_path / "bad", tunnel_starts={"glyphs": 6})
    with pytest.raises(ValueError, match="unknown"):
        plot_tunnel_curves(ID_CURVE, OOD, TAPS, tmp_path / "bad", tunnel_starts={"nope": 2})


def test_percentages_rejected(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        plot_tunnel_curves([20.0, 50.0], {}, ["a", "b"], tmp_path / "bad")


def test_floors_are_drawn_on_the_raw_panel_with_a_legend(tmp_path: Path, monkeypatch) -> None:
    import tunnellab.analysis.curves as curves

    drawn = {}
    save = curves.save_figure
    monkeypatch.setattr(curves, "save_figure", lambda fig, path: drawn.setdefault("fig", fig))
    floors = {"random-init backbone": [0.3] * len(TAPS), "shuffled labels": [0.1] * len(TAPS)}
    plot_tunnel_curves(ID_CURVE, OOD, TAPS, tmp_path / "f", floors=floors)
    fig = drawn["fig"]
    normalised, raw = fig.axes[:2]
    grey = [line for line in raw.get_lines() if line.get_color() == "grey"]
    assert [(line.get_linestyle(), list(line.get_ydata())) for line in grey] == [
        ("--", floors["random-init backbone"]),
        (":", floors["shuffled labels"]),
    ]
    assert not any(line.get_color() == "grey" for line in normalised.get_lines())
    labels = [t.get_text() for legend in fig.legends for t in legend.get_texts()]
    assert any(t.startswith("random-init backbone, ID") for t in labels)
    assert any(t.startswith("shuffled labels, ID") for t in labels)
    _assert_valid_outputs(save(fig, tmp_path / "f"))
    with pytest.raises(ValueError, match="floors"):
        plot_tunnel_curves(ID_CURVE, OOD, TAPS, tmp_path / "bad", floors={"x": [0.1, 0.2]})
