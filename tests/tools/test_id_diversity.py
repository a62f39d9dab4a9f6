"""Backfilling id_diversity: recomposed from the run's overrides, checked, tables copied."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from omegaconf import OmegaConf

from tunnellab.config import compose_config
from tunnellab.errors import TunnellabError
from tunnellab.pipeline import instantiate_dataset, run_input_diversity
from tunnellab.tools.id_diversity import backfill, main


def _run_dir(root: Path, seed_in_record: int = 0) -> Path:
    run_dir = root / "sweep" / "0"
    (run_dir / ".hydra").mkdir(parents=True)
    (run_dir / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["experiment=smoke"]))
    cfg = compose_config(["experiment=smoke"])
    cfg.seed = seed_in_record
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True))
    pd.DataFrame({"dataset": ["glyphs", "digits"], "retained": [50.0, 60.0]}).to_csv(
        run_dir / "tunnel_metrics.csv", index=False
    )
    return run_dir


def test_backfill_copies_the_tables_with_the_runs_id_diversity(tmp_path):
    run_dir = _run_dir(tmp_path)
    out = backfill([run_dir], tmp_path / "out")
    cfg = compose_config(["experiment=smoke"])
    expected = run_input_diversity(cfg, instantiate_dataset(cfg.data))
    assert out["id_diversity"].tolist() == [expected]
    copied = pd.read_csv(tmp_path / "out" / "sweep-0" / "tunnel_metrics.csv")
    assert copied["id_diversity"].tolist() == [expected, expected]
    assert "id_diversity" not in pd.read_csv(run_dir / "tunnel_metrics.csv").columns  # untouched


def test_a_run_whose_config_no_longer_composes_the_same_is_refused(tmp_path, capsys):
    run_dir = _run_dir(tmp_path, seed_in_record=7)
    with pytest.raises(TunnellabError, match="'seed'"):
        backfill([run_dir], tmp_path / "out")
    assert main([str(tmp_path / "out"), str(tmp_path / "missing")]) == 1
    assert "overrides.yaml" in capsys.readouterr().err
