"""Result tables follow the contract of docs/architecture.md#result-files."""

import numpy as np
import pandas as pd
import pytest

from tunnellab.models.taps import Tap
from tunnellab.probe.heads import ProbeCurves
from tunnellab.probe.stage import DatasetProbe, ProbeReport
from tunnellab.result_tables import metric_rows, probe_rows, run_variables
from tunnellab.run_identity import config_hash


def _probe(name: str, role: str, history: list[list[float]], holdout=None) -> DatasetProbe:
    curves = ProbeCurves(np.array(history), None if holdout is None else np.array(holdout))
    return DatasetProbe(name, role, n_classes=10, n_train=90, n_test=20, curves=curves)


@pytest.fixture
def report() -> ProbeReport:
    taps = [Tap(f"conv{i}", f"features.{i}", "output") for i in (1, 2, 3)]
    id_probe = _probe("lab", "id", [[0.3, 0.6, 0.9], [0.4, 0.7, 0.95]], [[0.5, 0.5, 0.5]] * 2)
    ood = _probe(
        "glyphs", "ood", [[0.2, 0.5, 0.3], [0.3, 0.4, 0.2]], [[0.1, 0.9, 0.2], [0.2, 0.1, 0.3]]
    )
    return ProbeReport(taps, id_probe, [ood], backbone_id_accuracy=0.93)


@pytest.fixture
def variables(compose) -> dict:
    cfg = compose("experiment=smoke")
    meta = {"depth": 11, "stem": 3, "spatial_reduction": 0.5}
    return run_variables(cfg, meta, n_params=1600, train_images=4 * 40)


def test_probe_rows_contract(report, variables, probe_columns):
    rows = probe_rows(report, variables)
    assert set(probe_columns) <= set(rows.columns)
    assert len(rows) == 2 * 3
    assert rows["tap_index"].tolist() == [1, 2, 3, 1, 2, 3]
    glyphs = rows[rows["dataset"] == "glyphs"]
    assert glyphs["acc_best"].tolist() == [0.3, 0.5, 0.3]
    assert glyphs["acc_last"].tolist() == [0.3, 0.4, 0.2]
    # held-out picks epoch 2, epoch 1, epoch 2
    assert glyphs["acc_selected"].tolist() == [0.3, 0.5, 0.2]
    assert rows["overparam"].iloc[0] == pytest.approx(1600 / (4 * 40))


def test_metric_rows_use_the_chosen_accuracy(report, variables, metric_columns):
    best = metric_rows(report, variables, "best")
    assert set(metric_columns) <= set(best.columns)
    assert best["retained"].iloc[0] == pytest.approx(100 * 0.3 / 0.5)
    assert best["tunnel_start"].iloc[0] == 2
    selected = metric_rows(report, variables, "selected")
    assert selected["retained"].iloc[0] == pytest.approx(100 * 0.2 / 0.5)
    assert selected["alignment"].iloc[0] == pytest.approx((0.93 - 0.1) * (0.2 - 0.1))


def test_selected_falls_back_to_best_without_holdout(report, variables):
    report.id_probe.curves.holdout_history = None
    rows = metric_rows(report, variables, "selected")
    assert rows["accuracy"].iloc[0] == "best"


def test_config_hash_ignores_paths_but_not_variables(compose):
    base = config_hash(compose("experiment=smoke"))
    assert config_hash(compose("experiment=smoke", "paths.output_root=/elsewhere")) == base
    assert config_hash(compose("experiment=smoke", "logger=csv")) == base
    assert config_hash(compose("experiment=smoke", "seed=1")) != base
    assert config_hash(compose("experiment=smoke", "data.resolution=64")) != base
    assert isinstance(pd.Series([base]).iloc[0], str)
