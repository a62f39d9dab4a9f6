"""``make test-slurm`` where it cannot run (not root): SKIPPED on a developer's machine, a
failure under CI (CI=true) or with TUNNELLAB_SLURM_REQUIRED=1: CI never passes a skipped test."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm" / "test_slurm.sh"


def _as_non_root(extra_env: dict[str, str]) -> subprocess.CompletedProcess:
    """The script as an unprivileged user (``nobody`` when this test runs as root)."""
    env = {"PATH": os.environ["PATH"], "HOME": "/tmp", "VENV": "/nonexistent", **extra_env}
    cmd = ["bash", str(SCRIPT)]
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: cannot drop to an unprivileged user")
        cmd = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *cmd]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)


def test_a_developer_machine_without_root_skips():
    done = _as_non_root({})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("SKIPPED: needs root"), done.stdout


@pytest.mark.parametrize("env", [{"CI": "true"}, {"TUNNELLAB_SLURM_REQUIRED": "1"}])
def test_ci_fails_where_the_cluster_test_cannot_run(env):
    done = _as_non_root(env)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "SKIPPED" not in done.stdout
    assert "FAILED: cannot run here" in done.stderr and "needs root" in done.stderr
