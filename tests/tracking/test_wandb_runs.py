"""W&B never blocks or crashes a run: an empty WANDB_MODE is unset, an unreachable server means
offline after a bounded start, a relaunched job stays one run whose summary covers every launch,
and summaries mean what a reader expects (best val accuracy = max). Loopback addresses only."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from tunnellab.tracking.tracker import METRIC_SUMMARIES
from tunnellab.tracking.wandb_log import final_summary, read_records, run_fragments
from tunnellab.tracking.wandb_mode import drop_empty_wandb_mode, server_unreachable

FAKE_KEY = "0123456789abcdef" * 2 + "01234567"  # 40 characters, never valid
HARD_TIMEOUT_S = 300  # a hang fails the test; the start-up bound itself lives in the code

# Starts a tracker for argv[1] (run dir) and prints its mode. argv[2] == "hold": log three
# validation epochs, say so, then wait to be killed (a job killed mid-training); "relaunch": log
# the relaunched job's two epochs. W&B writes the rest of a run file when its process ends, so
# runs that a test reads are made in a process of their own.
TRACKER_SCRIPT = """
import sys, time
from pathlib import Path
from tunnellab.config import compose_config
from tunnellab.tracking.tracker import start_tracker
cfg = compose_config(["experiment=smoke", "logger=wandb"])
tracker = start_tracker(cfg, Path(sys.argv[1]), "relaunch")
print("MODE", tracker.mode, flush=True)
logger = tracker.lightning_loggers()[0]
epochs = {"hold": [(0, 0.3), (1, 0.8), (2, 0.5)], "relaunch": [(3, 0.6), (4, 0.7)]}
for step, acc in epochs.get(sys.argv[2] if sys.argv[2:] else "", []):
    logger.log_metrics({"val/acc": acc, "train/loss": 1 - acc}, step=step)
if sys.argv[2:] == ["hold"]:
    print("LOGGED", flush=True)
    time.sleep(600)
tracker.finish()
"""

PRETRAIN_SCRIPT = """
import sys
from pathlib import Path
from tunnellab.config import compose_config
from tunnellab.pipeline import run_pretrain
overrides = ["experiment=smoke", "logger=wandb", "logger.mode=offline", "optim.epochs=3"]
print("BEST", run_pretrain(compose_config(overrides), Path(sys.argv[1])).best_val_acc)
"""


def _env(**changes: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _tracker_process(
    run_dir: Path, env: dict[str, str], *args: str, script: str = TRACKER_SCRIPT
) -> subprocess.Popen:
    cmd = [sys.executable, "-c", script, str(run_dir), *args]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finished(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=HARD_TIMEOUT_S)
    assert proc.returncode == 0, err[-2000:]
    return out


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------ start-up ---
def test_empty_wandb_mode_counts_as_unset(tmp_path) -> None:
    env = _env(WANDB_MODE="", WANDB_API_KEY=None, NETRC=str(tmp_path / "no-netrc"))
    proc = _tracker_process(tmp_path / "run", env)
    out, err = proc.communicate(timeout=HARD_TIMEOUT_S)
    assert proc.returncode == 0, err[-2000:]
    assert "MODE offline" in out and "Traceback" not in err
    assert list((tmp_path / "run" / "wandb").glob("offline-run-*"))


def test_drop_empty_wandb_mode() -> None:
    env = {"WANDB_MODE": " ", "WANDB_PROJECT": "p"}
    drop_empty_wandb_mode(env)
    assert env == {"WANDB_PROJECT": "p"}
    env = {"WANDB_MODE": "disabled"}
    drop_empty_wandb_mode(env)
    assert env == {"WANDB_MODE": "disabled"}


def test_online_without_a_reachable_server_runs_offline_and_says_how_to_sync(tmp_path) -> None:
    base_url = f"http://127.0.0.1:{_closed_port()}"
    env = _env(WANDB_MODE="online", WANDB_API_KEY=FAKE_KEY, WANDB_BASE_URL=base_url)
    run_dir = tmp_path / "run"
    proc = _tracker_process(run_dir, env)
    out, err = proc.communicate(timeout=HARD_TIMEOUT_S)
    assert proc.returncode == 0, err[-2000:]
    assert "MODE offline" in out
    notes = [line for line in err.splitlines() if "W&B:" in line]
    assert len(notes) == 1, err[-2000:]
    assert base_url in notes[0] and f"wandb sync {run_dir / 'wandb'}" in notes[0]
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))


class _Refusing(BaseHTTPRequestHandler):
    """A W&B server that answers every request with 401 (a rejected key)."""

    def do_GET(self) -> None:
        self.send_response(401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_reachability_check_is_bounded_and_counts_any_answer() -> None:
    assert "not reachable" in server_unreachable(f"http://127.0.0.1:{_closed_port()}", 2.0)
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        assert server_unreachable(url, 1.0) == f"no answer from {url} within 1 s"
    server = HTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert server_unreachable(f"http://127.0.0.1:{server.server_port}", 5.0) is None
    finally:
        server.shutdown()
    assert "not an http(s) URL" in server_unreachable("api.wandb.ai", 1.0)


# ----------------------------------------------------------------------- summaries ---
def _history(path: Path, key: str) -> list[float]:
    values = []
    for record in read_records(path):
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                if (list(item.nested_key) or [item.key]) == [key]:
                    values.append(json.loads(item.value_json))
    return values


def test_pretraining_summary_holds_the_best_val_accuracy(tmp_path) -> None:
    out = _finished(_tracker_process(tmp_path, _env(WANDB_MODE="offline"), script=PRETRAIN_SCRIPT))
    best_val_acc = float(out.split("BEST", 1)[1])  # ModelCheckpoint's best score
    (fragment,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    defined = {
        r.metric.name: r.metric
        for r in read_records(fragment)
        if r.WhichOneof("record_type") == "metric" and r.metric.name
    }
    assert set(METRIC_SUMMARIES) <= set(defined)
    assert defined["val/acc"].summary.max and defined["val/acc"].summary.last
    assert defined["train/loss"].summary.min and defined["train/loss"].summary.last
    assert defined["val/acc"].step_metric == "trainer/global_step"
    accs = _history(fragment, "val/acc")
    losses = _history(fragment, "train/loss")
    assert len(accs) == 3  # one per epoch
    summary = final_summary(fragment)
    assert summary["val/acc"] == {"max": max(accs), "last": accs[-1]}
    assert summary["val/acc"]["max"] == pytest.approx(best_val_acc)
    assert summary["train/loss"] == {"min": min(losses), "last": losses[-1]}


def _wait_for_history(wandb_dir: Path, rows: int, proc: subprocess.Popen) -> Path:
    """The killed launch's .wandb file once W&B has flushed ``rows`` history rows to it."""
    deadline = time.monotonic() + HARD_TIMEOUT_S
    while time.monotonic() < deadline and proc.poll() is None:
        for fragment in wandb_dir.glob("offline-run-*/run-*.wandb"):
            if len(_history(fragment, "val/acc")) >= rows:
                return fragment
        time.sleep(0.5)
    raise AssertionError(f"no flushed history (exit code {proc.poll()})")


def test_killed_and_relaunched_job_is_one_run_whose_summary_covers_both(
    tmp_path, wandb_run_ids
) -> None:
    run_dir = tmp_path / "run"
    first = _tracker_process(run_dir, _env(WANDB_MODE="offline"), "hold")
    try:
        killed = _wait_for_history(run_dir / "wandb", 3, first)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    assert final_summary(killed)["val/acc"] == {"max": 0.8, "last": 0.5}

    relaunch = _tracker_process(run_dir, _env(WANDB_MODE="offline"), "relaunch")
    assert "MODE offline" in _finished(relaunch)
    run_id = killed.stem.removeprefix("run-")
    fragments = run_fragments(run_dir / "wandb", run_id)
    assert len(fragments) == 2 and fragments[0] == killed.resolve()
    assert wandb_run_ids(run_dir / "wandb") == {run_id}  # one W&B run, two launches
    assert _history(fragments[1], "val/acc") == [0.6, 0.7]  # this launch alone: max 0.7
    summary = final_summary(fragments[1])  # what the run shows after `wandb sync` of both
    assert summary["val/acc"] == {"max": 0.8, "last": 0.7}
    assert summary["train/loss"]["min"] == pytest.approx(0.2)
    assert summary["train/loss"]["last"] == pytest.approx(0.3)

    wandb_cli = Path(sys.executable).parent / "wandb"
    dry = subprocess.run(
        [str(wandb_cli), "sync", "--dry-run", str(run_dir / "wandb")],
        capture_output=True,
        text=True,
        timeout=HARD_TIMEOUT_S,
        env=_env(WANDB_MODE=None),
    )
    listed = dry.stdout + dry.stderr
    assert dry.returncode == 0, listed[-2000:]
    assert "Would sync 2 run(s)" in listed, listed[-2000:]  # both launches, in one command
    assert fragments[0].parent.name in listed  # (the relaunch may be listed as latest-run/)
