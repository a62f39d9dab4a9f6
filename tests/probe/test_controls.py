"""The floors (random-init backbone, shuffled labels) and the kNN variant of a probe stage: rows,
seeding without the global random stream, their own cache entries, and the main-rows filter."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from tunnellab.data.arrays import DatasetSplits, ImageArrays
from tunnellab.errors import ConfigError
from tunnellab.models import create_model
from tunnellab.probe.cache import FeatureCache
from tunnellab.probe.controls import control_variants, probe_variants, shuffled_labels
from tunnellab.probe.heads import ProbeRecipe
from tunnellab.probe.knn import KnnRecipe
from tunnellab.probe.stage import ProbeStage
from tunnellab.probe.variants import check_kinds, floor_curves, main_rows
from tunnellab.result_tables import variant_rows


def _toy(name: str, n_train: int, n_test: int, classes: int = 3) -> DatasetSplits:
    def split(n: int, seed: int) -> ImageArrays:
        gen = torch.Generator().manual_seed(seed)
        labels = torch.arange(n) % classes
        images = torch.randint(0, 60, (n, 3, 32, 32), generator=gen, dtype=torch.uint8)
        for c in range(classes):  # a bright square whose place depends on the class
            images[labels == c, c % 3, 8 * c : 8 * c + 12, 8 * c : 8 * c + 12] = 250
        return ImageArrays(images, labels, [f"c{i}" for i in range(classes)])

    return DatasetSplits(name, train=split(n_train, 0), test=split(n_test, 1))


def _build() -> torch.nn.Module:
    return create_model("vggm11", 3, width=0.0625)


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    torch.manual_seed(5)
    trained = _build().eval()
    cache = FeatureCache(tmp_path_factory.mktemp("features"))
    recipe = ProbeRecipe(epochs=3, lr=1e-2, batch_size=32)

    def make_stage(model):
        return ProbeStage(model, model.taps("paper"), recipe, 0.1, 0, torch.device("cpu"), cache)

    stage = make_stage(trained)
    id_data, ood = _toy("toy", 90, 45), {"other": _toy("other", 60, 30, classes=2)}
    knn = KnnRecipe(k=10)
    kinds = ["linear", "knn"]
    main = probe_variants(stage, id_data, ood, {}, kinds, knn)
    state = torch.random.get_rng_state()
    floors = control_variants(
        ["random_init", "shuffled_labels"], stage, _build, make_stage, id_data, ood, {}, kinds,
        knn, seed=0,
    )  # fmt: skip
    untouched = torch.equal(state, torch.random.get_rng_state())
    rows = variant_rows(main + floors, {"run_id": "r"})
    return rows, untouched, cache


def test_every_variant_has_its_rows(measured):
    rows, _, _ = measured
    counts = rows.groupby(["backbone", "control", "probe", "role"]).size().to_dict()
    taps = 10
    for backbone in ("trained", "random_init"):
        for probe in ("linear", "knn"):
            assert counts[(backbone, "none", probe, "id")] == taps
            assert counts[(backbone, "none", probe, "ood")] == taps
    assert counts[("trained", "shuffled_labels", "linear", "id")] == taps
    assert counts[("trained", "shuffled_labels", "knn", "id")] == taps
    knn = rows[rows["probe"] == "knn"]
    assert knn["lr"].isna().all() and knn["best_epoch"].isna().all()
    assert (knn["acc_best"] == knn["acc_selected"]).all()


def test_floors_do_not_move_the_global_random_stream(measured):
    assert measured[1]


def test_random_init_copy_has_its_own_cache_entries(measured):
    # trained + random-init: 2 backbones × 2 datasets × 2 splits
    assert measured[2].misses == 8 and measured[2].hits > 0


def test_floors_sit_below_the_trained_probe(measured):
    rows, _, _ = measured
    trained = main_rows(rows)
    best = trained[trained["role"] == "id"]["acc_best"].max()
    curves = floor_curves(rows, "acc_best")
    assert set(curves) == {"random-init backbone", "shuffled labels"}
    assert max(curves["shuffled labels"]) < best  # chance is 1/3 on balanced labels
    assert max(curves["shuffled labels"]) < 0.75


def test_main_rows_keep_trained_linear_rows_and_old_tables_whole():
    table = pd.DataFrame(
        {
            "backbone": ["trained", "trained", "random_init", "trained"],
            "control": ["none", "none", "none", "shuffled_labels"],
            "probe": ["linear", "knn", "linear", "linear"],
        }
    )
    assert main_rows(table).index.tolist() == [0]
    assert main_rows(table, "knn").index.tolist() == [1]
    old = pd.DataFrame({"acc_best": [0.5, 0.6]})
    assert main_rows(old).equals(old)


def test_shuffled_labels_are_a_seeded_permutation():
    labels = torch.arange(100) % 7
    a, b, c = shuffled_labels(labels, 0), shuffled_labels(labels, 0), shuffled_labels(labels, 1)
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, labels)
    assert torch.equal(a.sort().values, labels.sort().values)


def test_metrics_from_a_kind_that_does_not_run_is_a_config_error():
    with pytest.raises(ConfigError, match=r"probe\.metrics_from=knn"):
        check_kinds(["linear"], "knn")


@pytest.mark.slow
def test_a_knn_only_run_reads_its_tunnel_metrics_from_knn_rows(tmp_path):
    from tunnellab.config import compose_config
    from tunnellab.metrics.tunnel import ood_retained
    from tunnellab.pipeline import run_probe

    cfg = compose_config(
        ["experiment=smoke", "checkpoint=random_init", "probe.kinds=[knn]",
         "probe.metrics_from=knn", "probe.controls=[shuffled_labels]"]
    )  # fmt: skip
    result = run_probe(cfg, tmp_path)
    probes = pd.read_csv(tmp_path / "probe_results.csv")
    assert set(probes["probe"]) == {"knn"}
    assert set(zip(probes["backbone"], probes["control"], strict=True)) == {
        ("trained", "none"),
        ("trained", "shuffled_labels"),
    }
    knn = main_rows(probes, "knn")
    for row in result.metrics.itertuples():
        acc = knn[knn["dataset"] == row.dataset].sort_values("tap_index")["acc_selected"]
        assert row.retained == pytest.approx(ood_retained(acc.to_numpy(float)))
