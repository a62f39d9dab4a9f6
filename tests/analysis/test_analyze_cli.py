"""``tunnellab-analyze`` end to end: the paper file, a sweep dir, W&B with a fake Api, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from analysis_helpers import TAPS, study_rows
from hydra import compose, initialize_config_dir
from wandb_offline import OfflineApi, OfflineRun, log_offline_run

from tunnellab.analysis.load import load_source
from tunnellab.analysis.report import format_summary
from tunnellab.analysis.study import AnalysisOptions, analyze
from tunnellab.cli.analyze import analyze_command, register_analyze_config
from tunnellab.config import config_dir
from tunnellab.errors import TunnellabError

BIN = Path(sys.executable).parent
PNG = b"\x89PNG\r\n\x1a\n"
TABLES = (
    "runs.csv", "group_means.csv", "paired_tests.csv", "pairs.csv", "shap_slopes.csv",
    "strength_bins.csv", "per_backbone.csv", "backbones.csv", "report.md",
)  # fmt: skip
FIGURES = ("shap_slopes", "shap_beeswarm", "retained_by_model", "depth_overparam", "levels_stem")


def _analyze(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "", "MPLBACKEND": "Agg"}
    return subprocess.run(
        [str(BIN / "tunnellab-analyze"), *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _compose(*overrides: str):
    register_analyze_config()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return compose("analyze", overrides=list(overrides))


def test_paper_end_to_end(tmp_path):
    out = tmp_path / "paper"
    done = _analyze("source=paper", f"out_dir={out}", "ci_df=n", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for name in TABLES:
        assert (out / name).is_file(), name
    for name in FIGURES:
        assert (out / "figures" / f"{name}.png").read_bytes()[:8] == PNG
        assert (out / "figures" / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    assert not (out / ".hydra").exists() and not list(out.glob("*.log"))
    assert not (tmp_path / "outputs").exists()

    means = pd.read_csv(out / "group_means.csv")
    assert list(means.columns[:7]) == [
        "variable",
        "level",
        "metric",
        "n",
        "mean",
        "ci_low",
        "ci_high",
    ]
    retained = means[means["metric"] == "retained"]
    assert retained["mean"].between(0, 100).all()
    assert (retained["ci_low"] <= retained["mean"]).all() and (
        retained["mean"] <= retained["ci_high"]
    ).all()
    assert {"resolution", "augmentation", "stem", "architecture", "spatial_reduction", "depth",
            "overparam", "id_dataset", "classes_samples"} <= set(means["variable"])  # fmt: skip
    tests = pd.read_csv(out / "paired_tests.csv")
    assert tests["wilcoxon_p"].dropna().between(0, 1).all()
    assert tests["cliffs_delta"].dropna().between(-1, 1).all()
    aug = tests[(tests["variable"] == "augmentation") & (tests["metric"] == "retained")].iloc[0]
    assert aug["n_pairs"] == 256 and aug["cliffs_delta"] > 0 and aug["wilcoxon_p"] < 1e-6
    bins = pd.read_csv(out / "strength_bins.csv")
    assert bins["bin"].tolist() == ["negligible", "weak", "medium", "strong"]
    assert bins["count"].sum() == 64
    assert len(pd.read_csv(out / "per_backbone.csv")) == 512 * 3
    slopes = pd.read_csv(out / "shap_slopes.csv")
    assert len(slopes) == 24 and slopes["r2"].between(0, 1).all()
    report = (out / "report.md").read_text()
    assert "df = n (as the paper's printed tables)" in report and "Pairing rule" in report
    assert "](figures/shap_slopes.png)" in report
    for fragment in ("tunnel strength", str(out / "report.md")):
        assert fragment in done.stdout
    # Raw slopes lead (the published figure's numbers); L1-normalised ones only when asked.
    assert "raw retained (R² 0.62): id_classes +0.41," in done.stdout
    assert "L1-normalised" not in done.stdout
    assert not (out / "figures" / "shap_slopes_l1.png").exists()
    # Every output names the paper element it reproduces.
    mapping = report.split("## What each output reproduces", 1)[1]
    rows = [line for line in mapping.splitlines() if line.startswith("| `")]
    written = [*TABLES[:-1], *(f"figures/{p.name}" for p in (out / "figures").glob("*.png"))]
    assert sorted(r.split("`")[1] for r in rows) == sorted(written)
    assert not [r for r in rows if r.endswith("| — |")]
    assert "Tables 5–7" in mapping and "SHAP-slope figure" in mapping


def test_bad_source_is_one_paragraph(tmp_path):
    done = _analyze(f"source={tmp_path / 'nowhere'}", f"out_dir={tmp_path / 'o'}", cwd=tmp_path)
    assert done.returncode == 2
    assert "nowhere" in done.stderr and "wandb:<entity>/<project>" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ((), "'source' has no value"),
        (("source=paper", "ci_df=n+1"), "ci_df must be one of: n-1, n"),
        (("source=paper", "curve_band=iqr"), "curve_band"),
        (("source=wandb:just-a-project",), "wandb:<entity>/<project>"),
    ],
)
def test_bad_config_names_the_key(tmp_path, overrides, message):
    cfg = _compose(*overrides, f"out_dir={tmp_path}")
    with pytest.raises(TunnellabError, match=message.replace("+", r"\+")):
        analyze_command(cfg)


def test_sweep_directory_source(sweep_dir, tmp_path):
    data = load_source(str(sweep_dir))
    table = data.table
    assert table["backbone"].nunique() == 9 and len(table) == 9 * 3
    assert any("recomputed" in note for note in data.notes)
    probe_only = table[table["backbone"] == "resnet18-32-none"]
    assert probe_only["alignment"].isna().all() and probe_only["retained"].notna().all()
    assert len(data.taps) == 9 * 4 * TAPS  # ID + 3 OOD curves per run
    result = analyze(data, tmp_path / "out", AnalysisOptions(figures=False, max_curves=2))
    assert len(result.curves) == 2 and all(p.read_bytes()[:8] == PNG for p in result.curves)
    aug = result.group_means.query("variable == 'augmentation' and metric == 'retained'")
    assert aug["mean"].iloc[1] - aug["mean"].iloc[0] == pytest.approx(10.0, abs=1e-6)
    assert (tmp_path / "out" / "taps.csv").is_file()
    report = (tmp_path / "out" / "report.md").read_text()
    assert "## Per-run curves" in report and "selected" in report

    again = load_source(str(tmp_path / "out" / "runs.csv"))  # re-render offline from the table
    assert len(again.table) == len(table) and again.taps is not None


def test_normalise_adds_l1_slopes_beside_the_raw_ones(sweep_dir, tmp_path):
    options = AnalysisOptions(normalise=True, curves=False, max_curves=0)
    result = analyze(load_source(str(sweep_dir)), tmp_path / "out", options)
    stems = {p.stem for p in result.figures}
    assert {"shap_slopes", "shap_slopes_l1"} <= stems
    summary = format_summary(result)
    raw = summary.index("  raw retained")
    assert raw < summary.index("  L1-normalised retained")
    report = (tmp_path / "out" / "report.md").read_text()
    assert (
        "`figures/shap_slopes_l1.png` | the paper's SHAP-slope figure with the slopes L1" in report
    )


class NoNetworkApi:
    def runs(self, path: str, **_: object):
        raise ConnectionError("no network here")


@pytest.fixture(scope="module")
def wandb_project(tmp_path_factory) -> list[OfflineRun]:
    """4 runs of the synthetic study (2 models × 2 augmentations) and one that failed before its
    results, each a real offline W&B run of the project's tracker, read back by wandb."""
    root = tmp_path_factory.mktemp("wandb_project")
    by_run: dict[str, list[dict]] = {}
    for row in study_rows(resolutions=(32,)):
        by_run.setdefault(str(row["run_id"]), []).append(row)
    dirs = [log_offline_run(root, run_id, rows) for run_id, rows in by_run.items()]
    dirs.append(log_offline_run(root, "crashed-run", None))
    return [OfflineRun(d) for d in dirs]


def test_the_offline_runs_are_what_the_tracker_logged(wandb_project):
    finished, crashed = wandb_project[:-1], wandb_project[-1]
    assert {r.state for r in finished} == {"finished"} and crashed.state != "finished"
    first = finished[0]
    assert first.name == "vggm11-32-none" and first.id.startswith("tl-")
    assert first.config["model"]["name"] == "vggm11" and first.config["logger"]["project"] == "proj"
    assert "model=vggm11" in first.tags and first.summary_metrics["id_accuracy"] == 0.9
    table = first.summary_metrics["tunnel/metrics"]
    assert table["_type"] == "table-file" and table["nrows"] == 3
    assert "tunnel/metrics" not in crashed.summary_metrics


def test_wandb_source_with_real_offline_runs_and_its_cache(tmp_path, wandb_project):
    api = OfflineApi(wandb_project)
    cache = tmp_path / "cache" / "ent__proj"
    data = load_source("wandb:ent/proj", wandb_cache=cache, api=api)
    assert api.paths == ["ent/proj"]
    assert data.table["backbone"].nunique() == 4 and len(data.taps) == 4 * 4 * TAPS
    assert any("crashed-run" in note for note in data.notes)
    want = pd.DataFrame(study_rows(resolutions=(32,))).set_index(["run_id", "dataset"])["retained"]
    got = data.table.set_index(["run_id", "dataset"])["retained"]
    pd.testing.assert_series_equal(got.sort_index(), want.sort_index(), check_dtype=False)
    ood_taps = data.taps[data.taps["dataset"] == "glyphs"]
    assert sorted(ood_taps["accuracy_value"].unique()) == [0.11, 0.21, 0.31, 0.41, 0.51]
    assert (cache / "runs.csv").is_file() and (cache / "taps.csv").is_file()
    assert json.loads((cache / "source.json").read_text())["source"] == "wandb:ent/proj"

    cached = load_source("wandb:ent/proj", wandb_cache=cache, api=NoNetworkApi())
    assert "cached" in cached.label
    pd.testing.assert_frame_equal(cached.table, data.table, check_dtype=False)
    with pytest.raises(TunnellabError, match="no network here"):
        load_source("wandb:ent/proj", wandb_cache=cache, refresh=True, api=NoNetworkApi())
    with pytest.raises(TunnellabError, match="No run"):
        load_source("wandb:ent/empty", wandb_cache=None, api=OfflineApi(wandb_project[-1:]))
