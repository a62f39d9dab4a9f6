"""A tiny continual run end to end on CPU: files, table, skip when done, resume from phases."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest

from tunnellab.continual.stage import continual_hash, format_continual, run_continual
from tunnellab.continual.study import summarise_continual
from tunnellab.errors import ConfigError

TINY = [
    "experiment=lab/continual", "logger=none", "data.samples_per_class=12",
    "data.val_per_class=2", "data.test_per_class=6", "optim.epochs=1", "optim.batch_size=32",
    "continual.finetune.epochs=1", "continual.finetune.batch_size=32", "probe=fast",
    "probe.epochs=2",
]  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tunnellab.config import compose_config

    cfg = compose_config(TINY)
    run_dir = tmp_path_factory.mktemp("continual")
    return cfg, run_dir, run_continual(cfg, run_dir)


def test_run_writes_the_table_the_tunnel_and_the_figure(tiny):
    _cfg, run_dir, result = tiny
    for name in ["continual.csv", "tunnel_layers.json", "continual.png", "continual_done.json"]:
        assert (run_dir / name).is_file(), name
    table = pd.read_csv(run_dir / "continual.csv")
    assert list(table.columns[:5]) == ["seed", "resolution", "combination", "task", "accuracy"]
    used = table[table["tunnel_choice"] == result.tunnel["used"]]
    assert len(used) == 4 * 2 + 2  # four swaps on both tasks, two fine-tuned arms on task 1
    assert set(used[used["combination"].str.contains("fine-tuned")]["task"]) == {1}
    assert table["accuracy"].between(0, 1).all() and table["resolution"].eq(32).all()
    tunnel = json.loads((run_dir / "tunnel_layers.json").read_text())
    assert tunnel["starts"]["paper"] == 14 and tunnel["layers"]["paper"] == "14-17"
    assert 2 <= tunnel["starts"]["own"] <= 17 and len(tunnel["task1_id_curve"]) == 17
    assert "E1+T2" in format_continual(result)


def test_done_run_is_skipped_and_phases_resume(tiny):
    cfg, run_dir, first = tiny
    assert run_continual(cfg, run_dir).skipped
    os.replace(run_dir / "continual_done.json", run_dir / "moved_done.json")
    again = run_continual(cfg, run_dir)  # every phase reloads from its saved weights
    assert not again.skipped
    pd.testing.assert_frame_equal(again.table, first.table)


def test_another_config_in_the_run_dir_is_refused(tiny):
    from tunnellab.config import compose_config

    _cfg, run_dir, _ = tiny
    other = compose_config([*TINY, "continual.tasks=[1-4,5-10]"])
    assert continual_hash(other) != continual_hash(_cfg)
    with pytest.raises(ConfigError, match="continual work of another config"):
        run_continual(other, run_dir)


def test_study_summary_averages_over_runs(tiny):
    _cfg, run_dir, _ = tiny
    report = summarise_continual(run_dir.parent)
    study = pd.read_csv(run_dir.parent / "continual_study.csv")
    assert "E1+T2" in report and study["runs"].ge(1).all()
    assert {"accuracy_mean", "accuracy_std", "tunnel_layers"} <= set(study.columns)


@pytest.mark.parametrize(
    ("override", "match"),
    [("continual.tunnel_start=middle", "is not allowed"), ("continual.tunnel_start=40", "2..17")],
)
def test_bad_tunnel_start_fails_before_training(tmp_path, override, match):
    from tunnellab.config import compose_config

    cfg = compose_config([*TINY, override])
    with pytest.raises(ConfigError, match=match):
        run_continual(cfg, tmp_path)
    assert not (tmp_path / "continual" / "task1.last.pt").exists()


def test_study_summary_goes_to_one_offline_wandb_run(tiny, tmp_path):
    import json
    import shutil

    from tunnellab.config import compose_config

    _cfg, run_dir, _ = tiny
    sweep = tmp_path / "sweep"
    shutil.copytree(run_dir, sweep / "0", ignore=shutil.ignore_patterns("wandb"))
    cfg = compose_config([*TINY, "logger=wandb", "logger.mode=offline"])
    report = summarise_continual(sweep, cfg)
    assert "W&B" in report
    (offline,) = sorted((sweep / "wandb").glob("offline-run-*"))
    (logged,) = (offline / "files" / "media" / "table" / "study").glob("continual_*.json")
    table = json.loads(logged.read_text())
    study = pd.read_csv(sweep / "continual_study.csv")
    assert len(table["data"]) == len(study) and "accuracy_mean" in table["columns"]
