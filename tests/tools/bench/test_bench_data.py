"""``make bench-data`` writes data.json: cached vs file decoding, training rate, cache size."""

from __future__ import annotations

import json

from tunnellab.tools.bench.data import main


def test_bench_data_writes_the_numbers(tmp_path, capsys):
    args = ["--out", str(tmp_path), "--images", "20", "--resolutions", "32", "--models",
            "resnet18", "--width", "0.0625", "--train-batch", "4", "--min-seconds", "0",
            "--batch-size", "8"]  # fmt: skip
    assert main(args) == 0
    result = json.loads((tmp_path / "data.json").read_text())
    r32 = result["resolutions"]["32"]
    for key in ["decode_files_img_s", "cache_build_img_s", "cached_host_img_s", "cached_img_s",
                "cached_aug_img_s", "fastest_train_img_s", "cache_bytes"]:  # fmt: skip
        assert r32[key] > 0, key
    assert r32["cache_bytes_per_image"] == 3 * 32 * 32
    assert r32["cache_bytes"] >= result["images"] * 3 * 32 * 32
    assert r32["aug_source_side"] == 128  # the default data.source_side, 4r
    assert set(r32["train_img_s"]) == {"resnet18"}
    assert isinstance(r32["cached_feeds_faster_than_training"], bool)
    assert "data.json" in capsys.readouterr().out
