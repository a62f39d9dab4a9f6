"""The context of one run's report: headline, curves, tables, config, environment, files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from tunnellab.errors import TunnellabError
from tunnellab.metrics.tunnel import tunnel_strength
from tunnellab.probe.variants import KNN, LINEAR, floor_curves, headline_rows, main_rows
from tunnellab.report.assets import environment, listing, png_image
from tunnellab.report.svg import Series, line_chart
from tunnellab.report.tables import read_csv, table
from tunnellab.run_identity import PROBE_RESULTS, SCORES, TUNNEL_METRICS

#: PNG figures written into a run dir by other stages that the report shows (glob patterns).
RUN_FIGURES = ("embeddings*.png", "dynamics*.png")
METRIC_COLUMNS = (
    "dataset",
    "n_classes",
    "retained",
    "strength",
    "tunnel_start",
    "peak_tap",
    "id_saturation_start",
    "pearson",
    "alignment",
    "accuracy",
)


def accuracy_column(metrics: pd.DataFrame | None) -> str:
    """The probe accuracy that fed the tunnel metrics (``acc_selected`` by default)."""
    if metrics is not None and "accuracy" in metrics and len(metrics):
        return f"acc_{metrics['accuracy'].iloc[0]}"
    return "acc_selected"


def extra_series(probes: pd.DataFrame, column: str) -> list[Series]:
    """Grey reference curves of the ID set: the floors (``probe.controls``) and the kNN probe."""
    out = []
    floors = floor_curves(probes, column)
    knn = main_rows(probes, KNN) if "probe" in probes else probes.iloc[0:0]
    knn_id = knn[knn["role"] == "id"].sort_values("tap_index")
    if len(knn_id) and len(main_rows(probes, LINEAR)):
        floors = {"kNN probe (ID)": (knn_id[column].fillna(knn_id["acc_best"])).tolist(), **floors}
    for name, accs in floors.items():
        taps = list(range(1, len(accs) + 1))
        labels = [f"tap {i}" for i in taps]
        out.append(Series(f"{name}", taps, [100 * a for a in accs], labels, dashed=True))
    return out


def scores_table(run_dir: Path) -> pd.DataFrame | None:
    """ID training-free layer scores (scores.csv): one row per tap, one column per estimator."""
    scores = read_csv(run_dir / SCORES)
    if scores is None or "role" not in scores or not (scores["role"] == "id").any():
        return None
    ids = scores[scores["role"] == "id"]
    frame = ids.pivot_table(index=["tap_index", "tap_name"], columns="estimator", values="score")
    return frame.reset_index().rename_axis(columns=None)


def curve_series(probes: pd.DataFrame, column: str) -> list[Series]:
    """ID first, then each OOD set: accuracy (%) per tap, hover text ``tap i (name)``."""
    out = []
    ordered = sorted(
        probes.groupby("dataset", sort=False), key=lambda g: g[1]["role"].iloc[0] != "id"
    )
    for dataset, rows in ordered:
        rows = rows.sort_values("tap_index")
        role = rows["role"].iloc[0]
        out.append(
            Series(
                f"{dataset} ({role})",
                rows["tap_index"].tolist(),
                (100 * rows[column]).tolist(),
                [
                    f"tap {i} ({n})"
                    for i, n in zip(rows["tap_index"], rows["tap_name"], strict=True)
                ],
                dashed=role != "id",
            )
        )
    return out


def per_tap_table(probes: pd.DataFrame, column: str) -> pd.DataFrame:
    """One row per tap: ID and OOD accuracies (%), rank, rank fraction, NC1."""
    ids = probes[probes["role"] == "id"].sort_values("tap_index")
    frame = ids[["tap_index", "tap_name"]].reset_index(drop=True)
    for dataset, rows in probes.groupby("dataset", sort=False):
        by_tap = 100 * rows.drop_duplicates("tap_index").set_index("tap_index")[column]
        frame[f"{dataset} (%)"] = frame["tap_index"].map(by_tap)
    for extra in ("rank", "rank_fraction", "nc1", "vendi", "effective_rank", "lr"):
        if extra in ids:
            frame[extra] = ids[extra].to_numpy()
    return frame


def headline(metrics: pd.DataFrame | None, done: dict[str, Any]) -> dict[str, Any]:
    """ID top-1 (%), and per OOD set its % retained, strength and tunnel start."""
    id_acc = done.get("backbone_id_accuracy")
    if id_acc is None and metrics is not None and "id_accuracy" in metrics and len(metrics):
        id_acc = float(metrics["id_accuracy"].iloc[0])
    ood = []
    if metrics is not None:
        for row in metrics.dropna(subset=["retained"]).itertuples(index=False):
            ood.append(
                {
                    "dataset": row.dataset,
                    "retained": float(row.retained),
                    "strength": getattr(row, "strength", None) or tunnel_strength(row.retained),
                    "tunnel_start": getattr(row, "tunnel_start", None),
                }
            )
    mean = sum(o["retained"] for o in ood) / len(ood) if ood else None
    return {
        "id_accuracy": None if id_acc is None else 100 * float(id_acc),
        "ood": ood,
        "retained_mean": mean,
        "strength": None if mean is None else tunnel_strength(mean),
    }


#: The probe_results.csv / tunnel_metrics.csv columns the pages read.
PAGE_COLUMNS = ("run_id", "dataset", "role", "tap_index", "tap_name")
METRIC_PAGE_COLUMNS = ("dataset", "retained")


def read_probes(run_dir: Path) -> pd.DataFrame:
    """The run's ``probe_results.csv``; :class:`TunnellabError` when it is missing, not a CSV
    or lacks a column the pages read."""
    probes = read_csv(run_dir / PROBE_RESULTS, PAGE_COLUMNS)
    if probes is None:
        raise TunnellabError(
            f"No {PROBE_RESULTS} in {run_dir}: not a finished run dir. Give tunnellab-report a "
            "run dir (with probe_results.csv), a sweep dir or a tunnellab-analyze out_dir."
        )
    return probes


def run_context(run_dir: Path) -> dict[str, Any]:
    """Everything the run template shows, read from the files of ``run_dir``."""
    probes = read_probes(run_dir)
    all_probes, probes = probes, headline_rows(probes)
    metrics = read_csv(run_dir / TUNNEL_METRICS, METRIC_PAGE_COLUMNS)
    done_path = run_dir / "done.json"
    done = json.loads(done_path.read_text()) if done_path.is_file() else {}
    column = accuracy_column(metrics)
    ids = probes[probes["role"] == "id"]
    rank_chart = None
    if "rank_fraction" in ids and ids["rank_fraction"].notna().any():
        ids = ids.sort_values("tap_index")
        rank_chart = line_chart(
            [
                Series(
                    "rank fraction × 100",
                    ids["tap_index"].tolist(),
                    (100 * ids["rank_fraction"]).tolist(),
                    [
                        f"tap {i} ({n})"
                        for i, n in zip(ids["tap_index"], ids["tap_name"], strict=True)
                    ],
                )
            ],
            height=220,
            y_label="rank / width (%)",
        )
    config = run_dir / "config.yaml"
    figures = [
        img
        for pattern in RUN_FIGURES
        for p in sorted(run_dir.glob(pattern))
        if (img := png_image(p))
    ]
    variables = {
        k: probes[k].iloc[0]
        for k in ("model", "resolution", "augmentation", "id_dataset", "id_classes", "seed")
        if k in probes
    }
    return {
        "kind": "run",
        "title": f"Run {probes['run_id'].iloc[0]}",
        "run_id": str(probes["run_id"].iloc[0]),
        "variables": variables,
        "headline": headline(metrics, done),
        "accuracy": column,
        "curves": line_chart(curve_series(probes, column) + extra_series(all_probes, column)),
        "rank_chart": rank_chart,
        "metrics": None
        if metrics is None
        else table(metrics[[c for c in METRIC_COLUMNS if c in metrics]]),
        "per_tap": table(per_tap_table(probes, column)),
        "figures": figures,
        "scores": None if (scores := scores_table(run_dir)) is None else table(scores),
        "config": config.read_text() if config.is_file() else None,
        "run_record": {
            k: done[k]
            for k in ("torch_threads", "world_size", "seconds", "checkpoint")
            if k in done
        },
        "environment": environment(),
        "files": listing(run_dir),
    }
