"""Shared test setup: offline W&B, few threads, and a composed config factory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture
def compose():
    """``compose(*overrides)`` → the validated config ``tunnellab-run`` would see."""
    from tunnellab.config import compose_config

    return lambda *overrides: compose_config(list(overrides))


# The result-file contract (docs/architecture.md#result-files), written out literally so a change
# to it is seen.
PROBE_COLUMNS = [
    "run_id", "dataset", "role", "tap_index", "tap_name", "n_classes", "acc_best", "acc_last",
    "acc_selected", "model", "resolution", "augmentation", "id_dataset", "id_classes",
    "samples_per_class", "seed", "depth", "stem", "spatial_reduction", "overparam",
    "backbone", "control", "probe", "id_diversity",
]  # fmt: skip
METRIC_COLUMNS = [
    "run_id", "dataset", "retained", "pearson", "alignment", "tunnel_start", "strength",
    "model", "resolution", "augmentation", "id_dataset", "id_classes", "samples_per_class", "seed",
    "id_diversity",
]  # fmt: skip


@pytest.fixture
def probe_columns() -> list[str]:
    return PROBE_COLUMNS


@pytest.fixture
def metric_columns() -> list[str]:
    return METRIC_COLUMNS


@pytest.fixture(autouse=True)
def _no_shared_wandb_service(monkeypatch):
    """Console scripts started by a test must not join a W&B service this process started."""
    for key in [k for k in os.environ if k.startswith("WANDB_SERVICE")]:
        monkeypatch.delenv(key)


def offline_run_ids(wandb_dir) -> set[str]:
    """The W&B run ids under ``<dir>/wandb`` (a resumed run may get a second dir, same id)."""
    files = Path(wandb_dir).glob("offline-run-*/run-*.wandb")
    return {f.stem.removeprefix("run-") for f in files}


@pytest.fixture
def wandb_run_ids():
    """``wandb_run_ids(wandb_dir)`` → the set of offline run ids written there."""
    return offline_run_ids
