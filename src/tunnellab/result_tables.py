"""Tidy result tables of a run: one row per (dataset, tap) and one per OOD dataset."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from tunnellab.atomic import atomic_write
from tunnellab.metrics.tunnel import tunnel_metrics
from tunnellab.probe.controls import Variant
from tunnellab.probe.stage import DatasetProbe, ProbeReport
from tunnellab.probe.variants import LINEAR, NO_CONTROL, TRAINED
from tunnellab.run_identity import PROBE_RESULTS, TUNNEL_METRICS, config_hash
from tunnellab.variables import RUN_VARIABLES


def run_variables(
    cfg: DictConfig,
    model_meta: dict[str, Any],
    n_params: int,
    train_images: int | None,
    id_diversity: float | None = None,
) -> dict[str, Any]:
    """The run variables (:data:`tunnellab.variables.RUN_VARIABLES`) attached to every result row.

    ``train_images``: how many images the backbone trained on (the loaded ID training split);
    over-parameterisation is ``n_params / train_images`` (None when unknown).
    ``id_diversity``: :func:`tunnellab.data.input_diversity.input_diversity` of the run.
    """
    computed = {
        "run_id": f"{cfg.name}-{config_hash(cfg)}",
        "params": n_params,
        "overparam": n_params / train_images if train_images else None,
        "id_diversity": id_diversity,
    }
    values = {}
    for variable in RUN_VARIABLES:
        if variable.source == "config":
            values[variable.name] = variable.from_config(cfg)
        elif variable.source == "model":
            values[variable.name] = model_meta.get(variable.name)
        else:
            values[variable.name] = computed[variable.name]
    return values


def effective_accuracy(report: ProbeReport, which: str) -> str:
    """``which``, except ``selected`` falls back to ``best`` when no held-out split was kept."""
    if which == "selected" and report.id_probe.curves.holdout_history is None:
        return "best"
    return which


def _accuracy(probe: DatasetProbe, which: str) -> np.ndarray:
    curves = probe.curves
    return {"best": curves.acc_best, "last": curves.acc_last, "selected": curves.acc_selected}[
        which
    ]


def probe_rows(
    report: ProbeReport,
    variables: dict[str, Any],
    backbone: str = TRAINED,
    control: str = NO_CONTROL,
    probe_kind: str = LINEAR,
) -> pd.DataFrame:
    """One row per (dataset, tap) with best / last / held-out-selected accuracy, tagged with
    what was probed (``backbone``, ``control``, ``probe``: :mod:`tunnellab.probe.variants`)."""
    rows = []
    for probe in [report.id_probe, *report.ood_probes]:
        c = probe.curves
        selected_epoch = c.selected_epoch
        for t, tap in enumerate(report.taps):
            rows.append(
                {
                    **variables,
                    "dataset": probe.name,
                    "role": probe.role,
                    "tap_index": t + 1,
                    "tap_name": tap.name,
                    "n_classes": probe.n_classes,
                    "n_train": probe.n_train,
                    "n_test": probe.n_test,
                    "acc_best": c.acc_best[t],
                    "acc_last": c.acc_last[t],
                    "acc_selected": c.acc_selected[t],
                    "best_epoch": int(c.test_history[:, t].argmax()) + 1,
                    "selected_epoch": None
                    if selected_epoch is None
                    else int(selected_epoch[t]) + 1,
                    "lr": None if c.lr is None else float(c.lr[t]),  # the lr grid's pick
                    "backbone": backbone,
                    "control": control,
                    "probe": probe_kind,
                }
            )
    return pd.DataFrame(rows)


def metric_rows(report: ProbeReport, variables: dict[str, Any], accuracy: str) -> pd.DataFrame:
    """One row per OOD dataset: % retained, Pearson ρ, alignment, tunnel start, strength."""
    accuracy = effective_accuracy(report, accuracy)
    acc_id = _accuracy(report.id_probe, accuracy)
    rows = []
    for probe in report.ood_probes:
        m = tunnel_metrics(
            acc_id,
            _accuracy(probe, accuracy),
            alpha_id=report.backbone_id_accuracy,
            n_classes_id=report.id_probe.n_classes,
            n_classes_ood=probe.n_classes,
        )
        row = {
            **variables,
            "dataset": probe.name,
            "n_classes": probe.n_classes,
            "accuracy": accuracy,
        }
        row.update(dataclasses.asdict(m))
        row["id_accuracy"] = report.backbone_id_accuracy
        rows.append(row)
    return pd.DataFrame(rows)


def write_tables(run_dir: Path, probes: pd.DataFrame, metrics: pd.DataFrame) -> dict[str, Path]:
    """Write both tables into the run dir; returns their paths."""
    paths = {"probe_results": run_dir / PROBE_RESULTS, "tunnel_metrics": run_dir / TUNNEL_METRICS}
    atomic_write(paths["probe_results"], lambda tmp: probes.to_csv(tmp, index=False))
    atomic_write(paths["tunnel_metrics"], lambda tmp: metrics.to_csv(tmp, index=False))
    return paths


def variant_rows(variants: list[Variant], variables: dict[str, Any]) -> pd.DataFrame:
    """:func:`probe_rows` of every variant, tagged ``backbone``, ``control`` and ``probe`` (kNN
    rows have no epochs or lr)."""
    tables = []
    for v in variants:
        rows = probe_rows(v.report, variables, v.backbone, v.control, v.probe)
        if v.probe != LINEAR:
            rows[["best_epoch", "selected_epoch", "lr"]] = np.nan
        tables.append(rows)
    out = pd.concat(tables, ignore_index=True)
    # as the CSV reads back: missing epochs make a numeric column float, not object
    numeric = ["best_epoch", "selected_epoch", "lr"]
    out[numeric] = out[numeric].apply(pd.to_numeric)
    return out
