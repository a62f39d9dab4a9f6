"""The tunnel over training: a tiny run keeping epochs 1 and 2, probed like the final backbone."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from tunnellab.dynamics import COLUMNS, check_kept_checkpoints, same_weights
from tunnellab.errors import ConfigError
from tunnellab.models.weights_io import load_weights_file, state_dict_of
from tunnellab.pipeline import run, run_probe
from tunnellab.probe.variants import main_rows

pytestmark = pytest.mark.slow

SMOKE = ["experiment=smoke", "logger=none", "probe.at_epochs=[1,2]"]


def weights(path) -> dict[str, torch.Tensor]:
    return state_dict_of(load_weights_file(path, "checkpoint", "a checkpoint"), str(path))


def equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    from tunnellab.config import compose_config

    run_dir = tmp_path_factory.mktemp("dynamics")
    return run(compose_config(SMOKE), run_dir)


def test_dynamics_csv_has_a_row_per_epoch_dataset_and_tap(kept):
    table = pd.read_csv(kept.run_dir / "dynamics.csv")
    assert list(table.columns) == COLUMNS
    assert len(table) == 2 * 4 * 10  # epochs × (lab + 3 OOD sets) × VGGm-11's 10 taps
    assert set(table["epoch"]) == {1, 2} and set(table["run_id"]) == {kept.run_id}
    per_epoch = table.groupby(["epoch", "dataset"])["tap_index"].apply(sorted)
    assert all(taps == list(range(1, 11)) for taps in per_epoch)
    assert set(table.loc[table["role"] == "id", "dataset"]) == {"lab"}
    assert table["acc"].between(0, 1).all()
    for name in ("dynamics_png", "dynamics_pdf"):
        assert kept.files[name].is_file() and kept.files[name].stat().st_size > 0


def test_kept_checkpoints_are_the_weights_of_their_epochs(kept):
    ckpts = kept.run_dir / "checkpoints"
    first, second = weights(ckpts / "epoch_1.ckpt"), weights(ckpts / "epoch_2.ckpt")
    assert not equal(first, second)  # epoch 1 is not the final backbone
    assert equal(second, weights(ckpts / "last.ckpt"))  # the last epoch is the final one
    best = weights(ckpts / "best.ckpt")
    assert equal(first, best) or equal(second, best)


def test_the_best_epochs_rows_are_the_main_probes(kept):
    ckpts = kept.run_dir / "checkpoints"
    best = weights(ckpts / "best.ckpt")
    epoch = next(e for e in (1, 2) if equal(weights(ckpts / f"epoch_{e}.ckpt"), best))
    table = pd.read_csv(kept.run_dir / "dynamics.csv")
    rows = table[table["epoch"] == epoch].reset_index(drop=True)
    trained = main_rows(kept.probes)  # the dynamics probe the trained backbone, linear heads
    main = trained[["dataset", "role", "tap_index", "acc_selected"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        rows[["dataset", "role", "tap_index"]], main[["dataset", "role", "tap_index"]]
    )
    assert rows["acc"].tolist() == main["acc_selected"].tolist()


def test_a_probed_epoch_equals_probing_its_checkpoint_alone(kept, compose, tmp_path):
    """The epoch probed afresh reports what ``tunnellab-probe checkpoint=epoch_<k>.ckpt`` does."""
    ckpts = kept.run_dir / "checkpoints"
    best = weights(ckpts / "best.ckpt")
    epoch = next(e for e in (1, 2) if not equal(weights(ckpts / f"epoch_{e}.ckpt"), best))
    cfg = compose(*SMOKE[:2], f"checkpoint={ckpts / f'epoch_{epoch}.ckpt'}")
    alone = run_probe(cfg, tmp_path)
    table = pd.read_csv(kept.run_dir / "dynamics.csv")
    expected = main_rows(alone.probes)["acc_selected"].tolist()
    assert table[table["epoch"] == epoch]["acc"].tolist() == expected


def test_same_weights_compares_values():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    assert not same_weights(a, b)
    b.load_state_dict(a.state_dict())
    assert same_weights(a, b)


def test_epochs_past_training_are_refused_before_any_work(compose, tmp_path):
    cfg = compose("experiment=smoke", "logger=none", "probe.at_epochs=[1,3]")
    with pytest.raises(ConfigError, match=r"probe\.at_epochs.*optim\.epochs=2.*1 to 2"):
        run(cfg, tmp_path)
    assert not any(tmp_path.iterdir())


def test_epoch_zero_is_refused_by_the_schema(compose):
    with pytest.raises(ConfigError, match=r"'probe\.at_epochs=\[0\]' is not allowed"):
        compose("experiment=smoke", "probe.at_epochs=[0]")


def test_checkpoints_not_kept_are_named(compose, tmp_path):
    cfg = compose("experiment=smoke", "probe.at_epochs=[1,2]")
    with pytest.raises(ConfigError, match=r"epochs 1, 2 were not kept"):
        check_kept_checkpoints(cfg, tmp_path)
