"""Training crops vs torchvision's RandomResizedCrop on real photos (same boxes and flips)."""

from __future__ import annotations

import json

import pytest

from tunnellab.tools.bench.crop_parity import main, parity, sample_photos, side_of, stored_bytes

PARITY = 2.0  # mean |difference| per pixel and channel, in 1/255


@pytest.fixture(scope="module")
def photos():
    source = sample_photos()
    assert [image.size for image in map(source.image, range(3))] == [
        (512, 600),
        (640, 427),
        (640, 427),
    ]
    return source


@pytest.mark.parametrize("resolution", [32, 224])
def test_original_and_the_default_source_are_within_parity(photos, resolution):
    assert parity(photos, resolution, "original", boxes=8) <= PARITY
    assert parity(photos, resolution, side_of("4r", resolution), boxes=8) <= PARITY


def test_the_measure_sees_a_low_resolution_source(photos):
    # the old cache's side, int(256/224 · r): small boxes are blown up from few pixels
    assert parity(photos, 32, side_of("1.14r", 32), boxes=8) > PARITY


def test_stored_bytes_of_an_average_imagenet_image():
    assert stored_bytes(128) == 3 * 128 * 146  # 400 × 350 → shorter side 128, longer int(146.3)
    assert stored_bytes(512) == stored_bytes(350) == 3 * 400 * 350  # never enlarged
    assert stored_bytes("original") == 0


def test_the_script_writes_both_tables(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--boxes", "1", "--resolutions", "32"]) == 0
    result = json.loads((tmp_path / "crop_parity.json").read_text())
    settings = {row["setting"] for row in result["rows"]}
    assert settings == {"1.14r", "2r", "4r", "256", "384", "512", "original"}
    assert "| original | 0.00 |" in (tmp_path / "crop_parity.md").read_text()
    assert "source_side" in capsys.readouterr().out
