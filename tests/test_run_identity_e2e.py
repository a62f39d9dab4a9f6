"""Work in a run dir is reused only by the config that made it (tunnellab.pipeline end to end)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from tunnellab.config import compose_config
from tunnellab.errors import ConfigError
from tunnellab.pipeline import run, run_pretrain, run_probe

pytestmark = pytest.mark.slow

SMOKE = ["experiment=smoke", "logger=none"]


def _cfg(*overrides: str):
    return compose_config([*SMOKE, *overrides])


@pytest.fixture(scope="module")
def first(tmp_path_factory):
    """``tunnellab-run experiment=smoke seed=0 hydra.run.dir=D``."""
    run_dir = tmp_path_factory.mktemp("identity")
    result = run(_cfg("seed=0"), run_dir)
    return result, (run_dir / "checkpoints" / "best.ckpt").read_bytes()


def test_another_seed_and_epochs_in_the_same_dir_is_refused(first):
    """``... seed=1 optim.epochs=3 hydra.run.dir=D`` used to reuse the seed-0 backbone."""
    result, best = first
    run_dir = result.run_dir
    with pytest.raises(ConfigError) as err:
        run(_cfg("seed=1", "optim.epochs=3"), run_dir)
    assert "optim.epochs 2 → 3, seed 0 → 1" in str(err.value)
    assert (run_dir / "checkpoints" / "best.ckpt").read_bytes() == best
    assert pd.read_csv(run_dir / "probe_results.csv")["seed"].eq(0).all()
    assert "seed: 0" in (run_dir / "config.yaml").read_text()  # not relabelled either
    with pytest.raises(ConfigError, match="seed 0 → 1"):
        run_pretrain(_cfg("seed=1"), run_dir)


def test_probing_the_run_dirs_checkpoint_under_another_config_is_refused(first, tmp_path):
    result, _ = first
    with pytest.raises(ConfigError, match=r"seed 0 → 1.*checkpoint="):
        run_probe(_cfg("seed=1"), result.run_dir)
    # Naming the file is a choice: these weights, probed under this config, in a new dir.
    probed = run_probe(_cfg("seed=1", f"checkpoint={result.checkpoint}"), tmp_path)
    assert probed.probes["seed"].eq(1).all()


def test_overwrite_retrains_and_keeps_the_old_files(first, tmp_path):
    result, best = first
    run_dir = shutil.copytree(result.run_dir, tmp_path / "run")  # the other tests keep D
    redone = run(_cfg("seed=1", "optim.epochs=3", "overwrite=true"), run_dir)
    assert not redone.pretrain.skipped and redone.pretrain.epochs_run == 3
    assert (run_dir / "checkpoints" / "best.ckpt").read_bytes() != best
    (moved,) = run_dir.glob("replaced-*")
    assert (moved / "checkpoints" / "best.ckpt").read_bytes() == best
    assert (moved / "done.json").is_file() and (moved / "probe_results.csv").is_file()
    assert pd.read_csv(run_dir / "probe_results.csv")["seed"].eq(1).all()
    assert run(_cfg("seed=1", "optim.epochs=3"), run_dir).skipped  # now this config's run


def test_a_new_probe_config_reuses_the_backbone_but_not_the_results(first, tmp_path):
    result, best = first
    with pytest.raises(ConfigError, match=r"probe\.epochs 3 → 2.*is reused"):
        run(_cfg("probe.epochs=2"), result.run_dir)
    redone = run(_cfg("probe.epochs=2", "overwrite=true"), result.run_dir)
    assert redone.pretrain.skipped and not redone.skipped
    assert (result.run_dir / "checkpoints" / "best.ckpt").read_bytes() == best
    (moved,) = result.run_dir.glob("replaced-*")
    pd.testing.assert_frame_equal(pd.read_csv(moved / "probe_results.csv"), result.probes)
    assert (moved / "scores.csv").is_file()  # every file the old results made goes with them
    assert not (moved / "checkpoints").exists()


def test_a_killed_pretraining_resumes_only_with_its_own_config(tmp_path):
    """identity.json is written before training: a last.ckpt without pretrain.json is checked."""
    cfg = _cfg("optim.epochs=1")
    run_pretrain(cfg, tmp_path)
    ckpt = tmp_path / "checkpoints"
    (ckpt / "pretrain.json").rename(tmp_path / "pretrain.json.kept")  # as if killed
    assert (ckpt / "last.ckpt").is_file() and (ckpt / "identity.json").is_file()
    with pytest.raises(ConfigError, match="seed 0 → 1"):
        run_pretrain(_cfg("optim.epochs=1", "seed=1"), tmp_path)
    resumed = run_pretrain(cfg, tmp_path)
    assert resumed.resumed and not resumed.skipped
