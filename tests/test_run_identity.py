"""Run identity: which keys each hash covers, the mismatch paragraph, and overwrite=true."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from tunnellab import run_identity as identity
from tunnellab.analysis.run_sources import find_run_dirs
from tunnellab.errors import ConfigError
from tunnellab.run_identity import (
    claim_run_dir,
    done_record,
    find_conflicts,
    flatten,
    pretrain_config,
    record_backbone,
)

SMOKE = "experiment=smoke"


@pytest.fixture
def smoke(compose):
    return lambda *overrides: compose(SMOKE, *overrides)


def _trained(run_dir: Path, cfg) -> bytes:
    """A run dir as pretraining leaves it: identity.json, then checkpoint bytes."""
    record_backbone(cfg, run_dir)
    payload = b"weights of " + str(cfg.seed).encode()
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(payload)
    return payload


def _finished(run_dir: Path, cfg, overrides: list[str] | None = None) -> None:
    """A run dir as a finished run leaves it: checkpoints, results and done.json."""
    _trained(run_dir, cfg)
    if overrides is not None:
        (run_dir / ".hydra").mkdir(parents=True)
        (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    (run_dir / "probe_results.csv").write_text("run_id,acc_best\nsmoke-x,0.5\n")
    (run_dir / "features").mkdir()
    (run_dir / "features" / "abc.pt").write_bytes(b"features")
    (run_dir / "done.json").write_text(json.dumps(done_record(cfg, run_dir)))


def test_flatten_gives_dotted_keys_and_keeps_lists():
    flat = flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": None, "f": {}})
    assert flat == {"a.b": 1, "a.c.d": [1, 2], "e": None, "f": {}}


def test_pretraining_identity_covers_what_determines_the_weights(smoke):
    base = pretrain_config(smoke())
    assert base["seed"] == 0 and base["optim.epochs"] == 2 and base["model.name"] == "vggm11"
    assert base["trainer.precision"] == "32-true" and base["data.resolution"] == 32
    assert not any(k.startswith(("probe.", "ood.", "logger.", "paths.", "threads")) for k in base)
    assert "data.cache" not in base  # storage keys say where data is, not what it is
    for same in ["probe.epochs=7", "threads=1", "logger=csv", "trainer.deterministic=false",
                 "ood=none", "taps=blocks", "name=other"]:  # fmt: skip
        assert pretrain_config(smoke(same)) == base, same
    for other in ["seed=1", "optim.lr=0.5", "aug=rrc_flip", "model.width=0.125",
                  "data.samples_per_class=30", "trainer.precision=bf16-mixed"]:  # fmt: skip
        assert pretrain_config(smoke(other)) != base, other


def test_another_pretraining_config_is_a_paragraph_naming_the_keys(smoke, tmp_path):
    old = _trained(tmp_path, smoke())
    with pytest.raises(ConfigError) as err:
        claim_run_dir(smoke("seed=1", "optim.epochs=3"), tmp_path)
    text = str(err.value)
    assert "\n" not in text
    assert "optim.epochs 2 → 3, seed 0 → 1" in text
    assert "checkpoints/identity.json" in text
    assert "hydra.run.dir=<new dir>" in text and "overwrite=true" in text
    assert (tmp_path / "checkpoints" / "last.ckpt").read_bytes() == old  # untouched
    assert not list(tmp_path.glob("replaced-*"))


def test_the_same_pretraining_config_is_reused_whatever_the_probe(smoke, tmp_path):
    _trained(tmp_path, smoke())
    assert claim_run_dir(smoke(), tmp_path) is None
    assert find_conflicts(smoke("probe.epochs=9", "logger=csv"), tmp_path) == []


def test_at_most_eight_keys_are_listed(smoke, tmp_path):
    _trained(tmp_path, smoke())
    changed = ["seed=3", "optim.lr=0.5", "optim.epochs=4", "optim.batch_size=8",
               "optim.weight_decay=0.1", "optim.warmup_epochs=2", "optim.label_smoothing=0.2",
               "aug=rrc_flip", "model.width=0.125", "data.samples_per_class=30"]  # fmt: skip
    # 11 keys differ (aug=rrc_flip also sets the lab data's augmentation): 8 named, 3 counted.
    with pytest.raises(ConfigError, match=r" and 3 more\)") as err:
        claim_run_dir(smoke(*changed), tmp_path)
    assert str(err.value).count(" → ") == 8


def test_overwrite_moves_everything_aside_and_deletes_nothing(smoke, tmp_path):
    _finished(tmp_path, smoke())
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    moved = claim_run_dir(smoke("seed=1", "overwrite=true"), tmp_path)
    assert moved is not None and moved.parent == tmp_path and moved.name.startswith("replaced-")
    for rel, data in before.items():
        assert (moved / rel).read_bytes() == data, rel
    assert not (tmp_path / "checkpoints").exists() and not (tmp_path / "done.json").exists()
    assert not (tmp_path / "features").exists()
    assert find_conflicts(smoke("seed=1"), tmp_path) == []
    # Moved-aside results are not runs of the sweep any more.
    assert find_run_dirs(tmp_path) == []


def test_a_finished_run_with_another_probe_config_is_an_error_then_reprobed(smoke, tmp_path):
    _finished(tmp_path, smoke())
    with pytest.raises(ConfigError) as err:
        claim_run_dir(smoke("probe.epochs=9"), tmp_path)
    text = str(err.value)
    assert "holds the results of another config" in text and "probe.epochs 3 → 9" in text
    assert "is reused" in text  # the backbone was pretrained with this config
    moved = claim_run_dir(smoke("probe.epochs=9", "overwrite=true"), tmp_path)
    assert (moved / "done.json").is_file() and (moved / "probe_results.csv").is_file()
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()  # the backbone stays
    assert (tmp_path / "features" / "abc.pt").is_file()  # keyed by the weights: still valid


def test_a_changed_precision_does_not_reuse_results(smoke, tmp_path):
    """trainer is not in the run hash, but trainer.precision changes the weights."""
    _finished(tmp_path, smoke())
    (tmp_path / "checkpoints" / "identity.json").unlink()  # checkpoints from elsewhere
    (tmp_path / "checkpoints" / "last.ckpt").unlink()
    with pytest.raises(ConfigError, match=r"trainer\.precision 32-true → bf16-mixed"):
        claim_run_dir(smoke("trainer.precision=bf16-mixed"), tmp_path)


def test_a_refused_launch_puts_back_the_overrides_of_the_results(smoke, tmp_path):
    _finished(tmp_path, smoke(), overrides=["experiment=smoke"])
    record = tmp_path / ".hydra" / "overrides.yaml"
    record.write_text(yaml.safe_dump(["experiment=smoke", "seed=1"]))  # as Hydra rewrites it
    with pytest.raises(ConfigError):
        claim_run_dir(smoke("seed=1"), tmp_path)
    assert yaml.safe_load(record.read_text()) == ["experiment=smoke"]


def test_legacy_checkpoints_are_judged_by_the_run_config(smoke, tmp_path):
    """Run dirs from before identity.json: their config.yaml, else no record at all."""
    ckpt = tmp_path / "checkpoints"
    ckpt.mkdir()
    (ckpt / "last.ckpt").write_bytes(b"old")
    with pytest.raises(ConfigError, match="holds no record of the config"):
        claim_run_dir(smoke(), tmp_path)
    (tmp_path / "config.yaml").write_text(OmegaConf.to_yaml(smoke(), resolve=True))
    assert claim_run_dir(smoke(), tmp_path) is None
    with pytest.raises(ConfigError, match=r"keys that differ from config\.yaml: seed 0 → 2"):
        claim_run_dir(smoke("seed=2"), tmp_path)


def test_probe_only_results_carry_their_hash_in_the_run_id(smoke, tmp_path):
    from tunnellab.run_identity import config_hash

    cfg = smoke()
    (tmp_path / "probe_results.csv").write_text(f"run_id\nsmoke-{config_hash(cfg)}\n")
    assert find_conflicts(cfg, tmp_path) == []
    with pytest.raises(ConfigError, match=r"probe_results\.csv records config hash"):
        claim_run_dir(smoke("probe.lr=0.5"), tmp_path)


def test_ddp_ranks_wait_for_rank_zero_to_move_the_files(smoke, tmp_path, monkeypatch):
    _trained(tmp_path, smoke())
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setattr(identity, "WAIT_S", 0.2)
    with pytest.raises(ConfigError, match="seed 0 → 1"):  # rank 0 never moved them
        claim_run_dir(smoke("seed=1", "overwrite=true"), tmp_path)
    assert (tmp_path / "checkpoints" / "last.ckpt").is_file()  # only rank 0 moves
    monkeypatch.setattr(identity, "WAIT_S", 30.0)
    rank0 = threading.Timer(0.3, identity.move_aside, (tmp_path, ["checkpoints"]))
    rank0.start()
    assert claim_run_dir(smoke("seed=1", "overwrite=true"), tmp_path) is None
    rank0.join()
    assert not (tmp_path / "checkpoints").exists()
