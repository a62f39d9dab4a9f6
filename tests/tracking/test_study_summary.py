"""The study-level summary of a sweep: per-run and per-level tables, the report and W&B."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from tunnellab.tracking.study import (
    STUDY_LEVELS,
    STUDY_RUNS,
    format_study_summary,
    summarise_study,
    swept_variables,
    write_study_summary,
)

#: (job, resolution, seed) → % retained on (glyphs, digits); ID top-1 is 0.9 at 32², 0.8 at 64².
JOBS = {
    "0": (32, 0, (40.0, 60.0)),
    "1": (32, 1, (50.0, 70.0)),
    "2": (64, 0, (80.0, 90.0)),
    "3": (64, 1, (70.0, 100.0)),
}


def _write_job(sweep: Path, job: str, resolution: int, seed: int, retained) -> None:
    """A job dir as a multirun leaves it: Hydra's overrides record and tunnel_metrics.csv."""
    run_dir = sweep / job
    (run_dir / ".hydra").mkdir(parents=True)
    overrides = [
        f"data.resolution={resolution}",
        f"seed={seed}",
        "experiment=lab/resolution",
        "optim.epochs='${floordiv:20000,${data.samples_per_class}}'",  # kept as typed
    ]
    OmegaConf.save(OmegaConf.create(overrides), run_dir / ".hydra" / "overrides.yaml")
    rows = [
        {
            "run_id": f"lab/resolution-{job}",
            "model": "vggm17",
            "width": 0.125,
            "resolution": resolution,
            "augmentation": "none",
            "id_dataset": "lab",
            "id_classes": 10,
            "samples_per_class": 1000,
            "seed": seed,
            "depth": 17,
            "stem": 3,
            "spatial_reduction": 0.5,
            "overparam": 10.0,
            "dataset": dataset,
            "retained": value,
            "pearson": 0.5,
            "alignment": 0.1,
            "tunnel_start": 5,
            "strength": "strong",
            "id_accuracy": 0.9 if resolution == 32 else 0.8,
            "id_diversity": 20.0 + seed + resolution / 32,
        }
        for dataset, value in zip(("glyphs", "digits"), retained, strict=True)
    ]
    pd.DataFrame(rows).to_csv(run_dir / "tunnel_metrics.csv", index=False)


@pytest.fixture
def sweep(tmp_path) -> Path:
    root = tmp_path / "multirun"
    for job, (resolution, seed, retained) in JOBS.items():
        _write_job(root, job, resolution, seed, retained)
    return root


def test_runs_and_levels_tables(sweep):
    summary = write_study_summary("lab/resolution", sweep)
    runs = summary.runs
    assert list(runs["job"]) == ["0", "1", "2", "3"]
    assert list(runs["overrides"]) == [
        "data.resolution=32,seed=0",
        "data.resolution=32,seed=1",
        "data.resolution=64,seed=0",
        "data.resolution=64,seed=1",
    ]  # the override every job shares is left out
    assert list(runs["retained_mean"]) == [50.0, 60.0, 85.0, 85.0]
    assert list(runs["retained/digits"]) == [60.0, 70.0, 90.0, 100.0]
    assert runs["id_accuracy"].round(6).tolist() == [90.0, 90.0, 80.0, 80.0]
    assert swept_variables(runs) == summary.variables == ["resolution"]
    assert list(runs["id_diversity"]) == [21.0, 22.0, 22.0, 23.0]

    levels = summary.levels.set_index("resolution")
    assert list(levels.index) == [32, 64]
    assert levels.loc[32, "runs"] == 2 and levels.loc[64, "seeds"] == "0 1"
    assert levels.loc[32, "retained_mean"] == 55.0
    assert levels.loc[64, "retained/glyphs"] == 75.0
    assert math.isclose(levels.loc[32, "retained_mean_std"], math.sqrt(50.0))
    assert levels.loc[64, "retained_mean_std"] == 0.0
    assert levels.loc[32, "id_diversity"] == 21.5 and levels.loc[64, "id_diversity"] == 22.5

    figure = summary.files["figure"]
    assert figure == sweep / "study_retained.png" and figure.stat().st_size > 10_000
    assert figure.with_suffix(".pdf").is_file()

    on_disk = pd.read_csv(sweep / STUDY_RUNS)
    assert on_disk["retained_mean"].tolist() == [50.0, 60.0, 85.0, 85.0]
    assert pd.read_csv(sweep / STUDY_LEVELS)["runs"].tolist() == [2, 2]


def test_report_shows_each_level(sweep):
    text = format_study_summary(write_study_summary("lab/resolution", sweep))
    assert "study lab/resolution: 4 runs, varying resolution" in text
    cells = [line.split() for line in text.splitlines()]
    level_lines = [line for line in cells if line[:1] in (["32"], ["64"])]
    assert [line[:2] for line in level_lines] == [["32", "2"], ["64", "2"]]
    assert "55.0" in level_lines[0] and "85.0" in level_lines[1]


def test_seed_only_sweep_is_one_level(tmp_path):
    root = tmp_path / "seeds"
    _write_job(root, "0", 32, 0, (40.0, 60.0))
    _write_job(root, "1", 32, 1, (50.0, 70.0))
    summary = write_study_summary("seeds", root)
    assert summary.variables == []
    assert summary.levels[["study", "runs", "retained_mean"]].values.tolist() == [["all", 2, 55.0]]


def test_a_sweep_without_results_writes_nothing(tmp_path):
    (tmp_path / "0").mkdir()
    assert write_study_summary("empty", tmp_path) is None
    assert not (tmp_path / STUDY_RUNS).exists()


def test_one_wandb_summary_run_per_sweep_even_when_relaunched(sweep, compose, wandb_run_ids):
    cfg = compose("logger=wandb", "logger.mode=offline", "name=lab/resolution")
    for _ in range(2):
        summary = summarise_study(cfg, sweep)
        assert summary.wandb_offline and summary.wandb_dir is not None
        assert summary.wandb_dir.parent == sweep / "wandb"
    run_dirs = sorted((sweep / "wandb").glob("offline-run-*"))
    assert len(wandb_run_ids(sweep / "wandb")) == 1  # one id, resumed
    media = run_dirs[-1] / "files" / "media"
    assert list((media / "images" / "figures").glob("study_retained_*.png"))
    tables = sorted((media / "table" / "study").glob("runs_*.json"))
    logged = json.loads(tables[-1].read_text())
    assert len(logged["data"]) == 4 and "retained_mean" in logged["columns"]
    assert "wandb sync" in format_study_summary(summary)


def test_csv_logger_writes_tables_only(sweep, compose):
    summary = summarise_study(compose("logger=csv", "name=lab/resolution"), sweep)
    assert summary.wandb_dir is None and not (sweep / "wandb").exists()
    assert (sweep / STUDY_RUNS).is_file()
    assert "wandb sync" not in format_study_summary(summary)
