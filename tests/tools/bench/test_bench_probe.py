"""``tunnellab-bench --tiny`` runs end to end and writes a complete probe.json."""

from __future__ import annotations

import json

from tunnellab.tools.bench.probe import main
from tunnellab.tools.bench.probe_report import TARGETS

KEYS = [
    "extract_s",
    "ref_per_layer_s",
    "ref_backbone_loop_s",
    "tunnellab_s",
    "tunnellab_total_over_extract",
    "speedup_vs_per_layer",
    "speedup_vs_backbone_loop",
    "max_acc_diff_vs_per_layer",
    "peak_rss_mb",
    "machine",
    "sizes",
    "memory_case",
    "targets",
]
MEMORY_KEYS = ["budget_mb", "features_mb", "peak_rss_mb", "equal_to_in_memory"]
SIZE_KEYS = ["n_train", "n_test", "taps", "epochs", "feature_dims"]
MACHINE_KEYS = ["device", "threads", "torch"]


def test_tiny_bench_writes_probe_json_with_every_key(tmp_path, capsys):
    report = main(["--tiny", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "probe.json").read_text())
    assert written == json.loads(json.dumps(report))
    for keys, node in [
        (KEYS, written),
        (MEMORY_KEYS, written["memory_case"]),
        (SIZE_KEYS, written["sizes"]),
        (MACHINE_KEYS, written["machine"]),
    ]:
        assert not [k for k in keys if k not in node], node
    assert set(TARGETS) <= set(written["targets"])
    assert written["sizes"]["taps"] == len(written["sizes"]["feature_dims"]) == 10
    memory = written["memory_case"]
    assert memory["streamed_to_files"] and memory["equal_to_in_memory"]
    assert memory["features_mb"] > memory["budget_mb"]
    assert 0 < written["extract_s"] <= written["tunnellab_s"]
    printed = capsys.readouterr().out
    assert "(c) tunnellab" in printed and "probe.json" in printed
