"""What a W&B dashboard shows of the per-tap probe accuracies, read from the offline run file:
metrics on a ``tap`` axis (so default line panels overlay a sweep's runs), their max/last
summaries, the tables kept, and the checkpoint artifact only with ``logger.log_checkpoint=true``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from tunnellab.tracking.tracker import PER_TAP, TAP_METRIC, per_tap_rows
from tunnellab.tracking.wandb_log import final_summary, read_records

# A run that logs a probed run's results, as pipeline.probe_backbone does, in a process of its
# own (W&B writes the rest of a run file when its process ends).
SCRIPT = """
import sys
from pathlib import Path
import pandas as pd
from tunnellab.config import compose_config
from tunnellab.tracking.tracker import start_tracker
run_dir = Path(sys.argv[1])
cfg = compose_config(["experiment=smoke", "logger=wandb", "logger.mode=offline", *sys.argv[3:]])
tracker = start_tracker(cfg, run_dir, "per-tap")
metrics = pd.DataFrame({"dataset": ["glyphs"], "retained": [50.0], "accuracy": ["best"]})
tracker.log_results(pd.read_csv(sys.argv[2]), metrics, {"id_accuracy": 0.9}, "acc_best", {})
checkpoint = run_dir / "best.ckpt"
checkpoint.write_bytes(b"weights")
tracker.log_checkpoint(checkpoint)
tracker.finish()
"""

ID_BEST = [0.3, 0.9, 0.8]
GLYPHS_BEST = [0.5, 0.7, 0.4]


def _probes() -> pd.DataFrame:
    rows = []
    for name, role, best in (("lab", "id", ID_BEST), ("glyphs", "ood", GLYPHS_BEST)):
        for t, acc in enumerate(best):
            selected = np.nan if (role, t) == ("ood", 1) else acc - 0.05
            rows.append({"dataset": name, "role": role, "tap_index": t + 1,
                         "tap_name": f"conv{t + 1}", "acc_best": acc, "acc_last": acc - 0.1,
                         "acc_selected": selected})  # fmt: skip
    return pd.DataFrame(rows)


def test_rows_name_the_id_set_id_and_leave_out_missing_values() -> None:
    rows = per_tap_rows(_probes().sample(frac=1.0, random_state=0))  # any row order
    assert [r[TAP_METRIC] for r in rows] == [1, 2, 3]
    assert [r[f"{PER_TAP}/id/acc_best"] for r in rows] == ID_BEST
    assert [r[f"{PER_TAP}/glyphs/acc_best"] for r in rows] == GLYPHS_BEST
    assert f"{PER_TAP}/glyphs/acc_selected" not in rows[1]  # NaN: not logged
    assert rows[0][f"{PER_TAP}/glyphs/acc_selected"] == 0.45


def _logged(tmp_path: Path, name: str, *overrides: str) -> subprocess.Popen:
    run_dir = tmp_path / name
    run_dir.mkdir()
    probes = run_dir / "probes.csv"
    _probes().to_csv(probes, index=False)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "WANDB_MODE": "offline",
           "WANDB_DATA_DIR": str(tmp_path / "wandb-data"),
           "WANDB_CACHE_DIR": str(tmp_path / "wandb-cache")}  # fmt: skip
    cmd = [sys.executable, "-c", SCRIPT, str(run_dir), str(probes), *overrides]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _records(proc: subprocess.Popen, run_dir: Path) -> tuple[list, Path]:
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-2000:]
    (fragment,) = run_dir.glob("wandb/offline-run-*/run-*.wandb")
    return list(read_records(fragment)), fragment


def _history(records: list) -> list[dict]:
    rows = []
    for r in records:
        if r.WhichOneof("record_type") == "history":
            row = {"/".join(i.nested_key) or i.key: i.value_json for i in r.history.item}
            if TAP_METRIC in row:
                rows.append({k: json.loads(v) for k, v in row.items() if not k.startswith("_")})
    return rows


def test_offline_run_has_per_tap_metrics_on_a_tap_axis_and_the_checkpoint(tmp_path) -> None:
    proc = _logged(tmp_path, "run", "logger.log_checkpoint=true")
    records, fragment = _records(proc, tmp_path / "run")

    metrics = [r.metric for r in records if r.WhichOneof("record_type") == "metric"]
    glob = {m.glob_name: m for m in metrics if m.glob_name}
    assert glob[f"{PER_TAP}/*"].step_metric == TAP_METRIC
    assert glob[f"{PER_TAP}/*"].summary.max and glob[f"{PER_TAP}/*"].summary.last
    assert TAP_METRIC in {m.name for m in metrics}

    history = _history(records)
    assert [row[TAP_METRIC] for row in history] == [1, 2, 3]
    assert [row[f"{PER_TAP}/id/acc_best"] for row in history] == ID_BEST
    assert [row[f"{PER_TAP}/glyphs/acc_best"] for row in history] == GLYPHS_BEST
    assert [row[f"{PER_TAP}/id/acc_last"] for row in history] == [
        a - 0.1 for a in ID_BEST
    ]  # fmt: skip

    summary = final_summary(fragment)
    assert summary[f"{PER_TAP}/id/acc_best"] == {"max": 0.9, "last": 0.8}
    assert summary[f"{PER_TAP}/glyphs/acc_best"] == {"max": 0.7, "last": 0.4}
    assert summary["id_accuracy"] == 0.9
    tables = {p.parent.name + "/" + p.name.split("_")[0] for p in
              fragment.parent.rglob("*.table.json")}  # fmt: skip
    assert {"probe/curves", "tunnel/metrics", "probe/accuracy"} <= tables  # the tables stay

    artifacts = [r.artifact for r in records if r.WhichOneof("record_type") == "artifact"]
    models = [a for a in artifacts if a.type == "model"]
    assert len(models) == 1 and "best" in models[0].aliases
    assert [e.path for e in models[0].manifest.contents] == ["best.ckpt"]


class _Run:
    id = "tl-x"

    def __init__(self) -> None:
        self.logged: list = []

    def log_artifact(self, artifact, aliases=None) -> None:
        self.logged.append((artifact, aliases))


def test_checkpoint_is_logged_only_when_asked(tmp_path) -> None:
    import wandb

    from tunnellab.tracking.tracker import Tracker, WandbTracker

    checkpoint = tmp_path / "best.ckpt"
    checkpoint.write_bytes(b"weights")
    Tracker().log_checkpoint(checkpoint)  # logger=none / csv: nothing to do
    for flag, mode, expected in (
        (False, "offline", 0),
        (True, "disabled", 0),
        (True, "offline", 1),
    ):
        tracker = object.__new__(WandbTracker)
        tracker._wandb, tracker.run, tracker.mode = wandb, _Run(), mode
        tracker._log_checkpoint = flag
        tracker.log_checkpoint(checkpoint)
        assert len(tracker.run.logged) == expected, (flag, mode)
