"""The short report printed at the end of every command."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tunnellab.advise.report import Advice
from tunnellab.pipeline import RunResult
from tunnellab.pretrain.train import PretrainOutcome
from tunnellab.probe.variants import headline_rows


def _rel(path: Path | str | None) -> str:
    if path is None:
        return "-"
    path = Path(path).resolve()
    cwd = Path.cwd().resolve()
    return str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)


def _tap_label(probes: pd.DataFrame, tap: object) -> str:
    if pd.isna(tap):
        return "none"
    names = probes.drop_duplicates("tap_index").set_index("tap_index")["tap_name"]
    return f"tap {int(tap)} ({names.get(int(tap), '?')})"


#: Files of ``RunResult.files`` the run summary lists under "also", when a run wrote them.
EXTRA_FILES = ("scores", "embeddings_png", "dynamics", "dynamics_png")


def format_run_summary(result: RunResult) -> str:
    """Where everything went and the headline numbers of one run."""
    m = result.metrics
    lines = [
        f"tunnellab ▸ {result.run_id}" + (" (already done; skipped)" if result.skipped else ""),
        f"  run dir      {_rel(result.run_dir)}",
        f"  checkpoint   {_rel(result.checkpoint)}",
        f"  results      {_rel(result.files.get('probe_results'))}, "
        f"{_rel(result.files.get('tunnel_metrics'))}",
        f"  plot         {_rel(result.files.get('curves_png'))} (+ .pdf)",
    ]
    extras = [_rel(result.files[k]) for k in EXTRA_FILES if result.files.get(k)]
    if extras:  # scores.csv, embeddings.png, dynamics.csv / .png when the run made them
        lines.append(f"  also         {', '.join(extras)}")
    if result.files.get("report"):  # report.html (report=true)
        lines.append(f"  report       {_rel(result.files['report'])}")
    if result.tracker_kind == "wandb" and result.tracker_location:
        lines.append(
            f"  W&B          {_rel(result.tracker_location)}  "
            f"(upload, every launch: wandb sync {_rel(Path(result.run_dir) / 'wandb')})"
        )
    elif result.tracker_kind == "csv":
        lines.append(f"  CSV logs     {_rel(result.tracker_location)}")
    if result.seconds:
        timing = ", ".join(f"{k} {v:.0f}s" for k, v in result.seconds.items())
        lines.append(f"  time         {timing}")
    probes = headline_rows(result.probes)
    id_rows = probes[probes["role"] == "id"]
    accuracy = str(m["accuracy"].iloc[0]) if len(m) else "best"
    lines += [
        "",
        f"  ID top-1 (backbone)   {100 * result.backbone_id_accuracy:5.1f} %   "
        f"best ID probe {100 * id_rows[f'acc_{accuracy}'].max():5.1f} %   ({accuracy} accuracy)",
        f"  {'OOD set':<12}{'classes':>8}{'retained':>10}{'strength':>12}  tunnel start",
    ]
    for row in m.itertuples():
        start = _tap_label(result.probes, row.tunnel_start)
        numbers = f"{int(row.n_classes):>8}{row.retained:>9.1f}%{row.strength:>12}"
        lines.append(f"  {row.dataset:<12}{numbers}  {start}")
    if len(m):
        lines.append(f"  {'mean':<12}{'':>8}{m['retained'].mean():>9.1f}%")
    return "\n".join(lines)


def format_pretrain_summary(outcome: PretrainOutcome, run_dir: Path) -> str:
    """Where the checkpoint went and how good it was."""
    state = "skipped (already trained)" if outcome.skipped else f"{outcome.epochs_run} epochs"
    return "\n".join(
        [
            f"tunnellab ▸ pretraining done: {state}",
            f"  run dir      {_rel(run_dir)}",
            f"  checkpoint   {_rel(outcome.checkpoint)}",
            f"  best val top-1 {100 * outcome.best_val_acc:.1f} %",
            f"  next: tunnellab-probe hydra.run.dir={_rel(run_dir)} <same overrides>",
        ]
    )


def format_advice_summary(advice: Advice, files: dict[str, Path], run_dir: Path) -> str:
    """The advisor's answer in a few lines, and where its files went."""
    best = advice.row(advice.recommended_tap)
    start = advice.tunnel_start
    lines = [
        f"tunnellab ▸ advice for {advice.model} on {advice.data_path}",
        f"  run dir      {_rel(run_dir)}",
        f"  advice       {_rel(files['advice'])}",
        f"  layers       {_rel(files['layers'])}",
        f"  plot         {_rel(files['plot'])} (+ .pdf)",
        "",
        f"  use tap {advice.recommended_tap} ({best['tap_name']}): "
        f"{100 * best['acc_selected']:.1f} % test accuracy ({advice.n_classes} classes, "
        f"{advice.n_train} train / {advice.n_test} test images at {advice.resolution}²)",
        f"  last layer keeps {advice.retained_last:.0f} % of that"
        + (f"; accuracy peaks at tap {start}" if start is not None else ""),
    ]
    for r, acc in advice.resolution_best.items():
        lines.append(f"  best tap at {r}²: {100 * acc:.1f} %")
    for name in advice.nuisances:
        drop = 100 * best[f"drop_{name}"]
        lines.append(f"  {name:<20} {drop:+.1f} points lost at tap {advice.recommended_tap}")
    if advice.skipped_images:
        lines.append(f"  {advice.skipped_images} unreadable image file(s) skipped")
    if advice.fit is not None and advice.fit.prdc is not None:
        fit = advice.fit.prdc
        lines.append(
            f"  fit to {advice.fit.training_data}: {100 * fit.precision:.0f} % of your images "
            f"inside its region, coverage {100 * fit.coverage:.0f} %"
        )
    return "\n".join(lines)
