"""A tiny quickstart end to end: files, columns, W&B run, skip-if-done, determinism, probe-only."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from tunnellab.pipeline import run, run_probe
from tunnellab.probe.variants import main_rows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke_cfg():
    from tunnellab.config import compose_config

    return compose_config(["experiment=smoke", "logger=wandb", "logger.mode=offline"])


@pytest.fixture(scope="module")
def first_run(smoke_cfg, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("smoke")
    return run(smoke_cfg, run_dir)


def test_run_writes_every_output(first_run, probe_columns, metric_columns):
    d = first_run.run_dir
    for name in ["config.yaml", "probe_results.csv", "tunnel_metrics.csv", "curves.png",
                 "curves.pdf", "done.json", "checkpoints/best.ckpt", "report.html"]:  # fmt: skip
        assert (d / name).is_file(), name
    probes = pd.read_csv(d / "probe_results.csv")
    metrics = pd.read_csv(d / "tunnel_metrics.csv")
    assert set(probe_columns) <= set(probes.columns)
    assert set(metric_columns) <= set(metrics.columns)
    assert set(probes["dataset"]) == {"lab", "glyphs", "digits", "heldout"}
    assert set(metrics["dataset"]) == {"glyphs", "digits", "heldout"}
    assert probes.groupby("dataset")["tap_index"].max().eq(10).all()  # VGGm-11: 10 taps
    assert probes[["acc_best", "acc_last"]].stack().between(0, 1).all()
    assert metrics["retained"].between(0, 100).all()
    variants = set(probes[["backbone", "control", "probe", "role"]].itertuples(index=False))
    assert variants == {
        (backbone, "none", probe, role)
        for backbone in ("trained", "random_init")
        for probe in ("linear", "knn")
        for role in ("id", "ood")
    } | {("trained", "shuffled_labels", probe, "id") for probe in ("linear", "knn")}
    assert len(probes) == 10 * (4 + 4 + 4 + 4 + 2)  # 10 taps × (trained, random) × 2 kinds + 2
    probes = main_rows(probes)
    id_rows = probes[probes["role"] == "id"]
    assert id_rows["rank"].between(1, id_rows["rank"].max()).all()  # per-tap rank on ID data
    assert (id_rows["rank"] <= id_rows["rank"] / id_rows["rank_fraction"] + 1e-6).all()
    assert id_rows["nc1"].notna().all() and probes[probes["role"] == "ood"]["rank"].isna().all()
    # per-tap diversity of the ID test features (ID rows only); one id_diversity per run
    assert (id_rows["vendi"] >= 1).all() and (id_rows["effective_rank"] >= 1).all()
    assert probes[probes["role"] == "ood"][["vendi", "effective_rank"]].isna().all().all()
    assert probes["id_diversity"].nunique() == 1 and metrics["id_diversity"].nunique() == 1
    assert metrics["id_diversity"].iloc[0] == probes["id_diversity"].iloc[0] > 1


def test_run_logs_an_offline_wandb_run(first_run):
    runs = list((first_run.run_dir / "wandb").glob("offline-run-*"))
    assert len(runs) == 1 and first_run.tracker_kind == "wandb"
    record = next(runs[0].glob("*.wandb")).read_bytes()
    for key in [b"train/loss", b"val/acc", b"mean_retained", b"glyphs/retained", b"id_accuracy",
                b"id_diversity"]:  # fmt: skip
        assert key in record, key
    media = runs[0] / "files" / "media"
    tables = {p.parent.name + "/" + p.name.split("_")[0] for p in media.rglob("*.table.json")}
    assert {"probe/curves", "tunnel/metrics", "probe/accuracy"} <= tables
    metrics_table = json.loads(next((media / "table" / "tunnel").glob("*.json")).read_text())
    assert len(metrics_table["data"]) == 3 and "retained" in metrics_table["columns"]
    assert any((media / "images").rglob("curves*.png"))


def test_second_run_in_the_same_dir_is_skipped(smoke_cfg, first_run):
    again = run(smoke_cfg, first_run.run_dir)
    assert again.skipped
    pd.testing.assert_frame_equal(again.metrics, pd.read_csv(first_run.files["tunnel_metrics"]))


def test_same_config_and_seed_give_the_same_numbers(smoke_cfg, first_run, tmp_path):
    from tunnellab.config import compose_config

    cfg = compose_config(["experiment=smoke", "logger=csv"])  # tracking must not change numbers
    second = run(cfg, tmp_path)
    assert (tmp_path / "csv" / "metrics.csv").is_file()
    cols = ["acc_best", "acc_last", "acc_selected"]
    pd.testing.assert_frame_equal(second.probes[cols], first_run.probes[cols])
    assert second.backbone_id_accuracy == first_run.backbone_id_accuracy
    diversity = ["id_diversity", "vendi", "effective_rank"]
    pd.testing.assert_frame_equal(second.probes[diversity], first_run.probes[diversity])


def test_probe_only_reuses_the_checkpoint_and_the_feature_cache(first_run, tmp_path):
    from tunnellab.config import compose_config

    cfg = compose_config(["experiment=smoke", f"checkpoint={first_run.checkpoint}",
                          f"paths.cache_dir={first_run.run_dir / 'features'}"])  # fmt: skip
    result = run_probe(cfg, tmp_path)
    cols = ["acc_best", "acc_last", "acc_selected"]
    pd.testing.assert_frame_equal(result.probes[cols], first_run.probes[cols])
    assert result.backbone_id_accuracy == first_run.backbone_id_accuracy


def test_run_writes_training_free_scores(first_run):
    scores = pd.read_csv(first_run.files["scores"])
    assert list(scores.columns) == [
        "run_id", "dataset", "role", "tap_index", "tap_name", "estimator", "score"
    ]  # fmt: skip
    assert set(scores["run_id"]) == {first_run.run_id}
    assert set(scores["dataset"]) == {"lab", "glyphs", "digits", "heldout"}
    counts = scores.groupby(["dataset", "estimator"])["tap_index"].nunique()
    assert counts.eq(10).all() and len(counts) == 4 * 6  # every tap, every estimator
    knn = scores[scores["estimator"] == "knn"]["score"]
    assert knn.between(0, 1).all()
