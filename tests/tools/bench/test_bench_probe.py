"""``tunnellab-bench --tiny`` runs end to end and writes a complete probe.json."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

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


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[dict[str, Any], Path, str]:
    """One ``--tiny`` run for the module: the returned report, its out dir, what it printed."""
    out = tmp_path_factory.mktemp("bench")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        report = main(["--tiny", "--out", str(out)])
    return report, out, printed.getvalue()


def test_tiny_bench_writes_probe_json_with_every_key(tiny):
    report, out, printed = tiny
    written = json.loads((out / "probe.json").read_text())
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
    assert written["extract_s"] > 0 and written["tunnellab_s"] > 0
    assert "(c) tunnellab" in printed and "probe.json" in printed


def test_tiny_bench_engine_matches_the_per_layer_reference(tiny):
    """(c) and (a) train the same heads on the same minibatches: the engine's per-tap accuracies
    are the reference's (48 test images: one image more or less right is 2.1 points)."""
    report = tiny[0]
    n_test = report["sizes"]["n_test"]
    for kind in ("acc_best", "acc_last"):
        acc = {k: np.array(v) for k, v in report["accuracy"][kind].items()}
        assert set(acc) == {"tunnellab", "per_layer", "backbone_loop"}
        for values in acc.values():
            assert values.shape == (10,) and ((values >= 0) & (values <= 1)).all()
            np.testing.assert_allclose(values * n_test, np.round(values * n_test), atol=1e-9)
        np.testing.assert_allclose(acc["tunnellab"], acc["per_layer"], atol=0.01, err_msg=kind)
    assert report["max_acc_diff_vs_per_layer"] <= 1.0  # percentage points
    best = {k: np.array(v) for k, v in report["accuracy"]["acc_best"].items()}
    expected = 100 * np.abs(best["tunnellab"] - best["per_layer"]).max()
    assert report["max_acc_diff_vs_per_layer"] == round(expected, 2)
    assert report["targets"]["max_acc_diff_vs_per_layer"]["met"]
