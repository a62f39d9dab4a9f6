"""The table ``make gpu-check`` prints from its report (the content of ``gpu.json``)."""

from __future__ import annotations

import itertools
from typing import Any

SHORT = {"bf16-mixed": "bf16", "32-true": "fp32"}
PARTS = ("pretrain", "validation", "extraction", "probes", "total")
MEASURED = ("pretrain", "extraction", "probe_heads")


def _cell(row: dict[str, Any] | None, value: str) -> str:
    """A measurement's text, or why there is none."""
    if row is None:
        return "skipped"
    return "error" if "error" in row else value


def _pretrain_lines(report: dict[str, Any]) -> list[str]:
    settings = report["settings"]
    columns = list(itertools.product(settings["resolutions"], settings["precisions"]))
    rows = {(r["model"], r["resolution"], r["precision"]): r for r in report["pretrain"]}
    lines = [
        "pretraining img/s (batch): paper recipe, synthetic uint8 images from pinned host memory",
        f"  {'model':<12}" + "".join(f"{f'{r}² {SHORT.get(p, p)}':>18}" for r, p in columns),
    ]
    for name in settings["models"]:
        cells = []
        for res, precision in columns:
            row = rows.get((name, res, precision))
            value = ""
            if row and "img_s" in row:
                value = f"{row['img_s']:,.0f} ({row['batch_size']}{'*' if row['capped'] else ''})"
            cells.append(f"{_cell(row, value):>18}")
        lines.append(f"  {name:<12}" + "".join(cells))
    if any(r.get("capped") for r in report["pretrain"]):
        lines.append("  * the recipe's batch did not fit in GPU memory: halved until it did")
    return lines


def _extraction_lines(report: dict[str, Any]) -> list[str]:
    settings = report["settings"]
    ratios = {(r["model"], r["resolution"]): r["ratio"] for r in report["probe_over_extraction"]}
    rows = {(r["model"], r["resolution"]): r for r in report["extraction"]}
    lines = [
        "extraction img/s (every paper tap hooked and pooled), and probing / extraction",
        f"  {'model':<12}"
        + "".join(f"{f'{r}² img/s':>14}{'ratio':>8}" for r in settings["resolutions"]),
    ]
    for name in settings["models"]:
        cells = []
        for res in settings["resolutions"]:
            row = rows.get((name, res))
            rate = f"{row['img_s']:,.0f}" if row and "img_s" in row else ""
            ratio = ratios.get((name, res))
            cells.append(f"{_cell(row, rate):>14}{'—' if ratio is None else f'{ratio:.2f}':>8}")
        lines.append(f"  {name:<12}" + "".join(cells))
    lines.append("  ratio: the recipe's probe epochs (one head bank) over one extraction pass")
    return lines


def _head_lines(report: dict[str, Any]) -> list[str]:
    lines = ["probe heads, all taps at once, one bank"]
    for row in report["probe_heads"]:
        if "s_per_epoch" not in row:
            lines.append(f"  {row['model']:<12}{_cell(row, '')}: {row.get('error', '')}")
            continue
        lines.append(
            f"  {row['model']:<12}{row['s_per_epoch']:>9.3f} s per epoch of {row['samples']:,} "
            f"samples ({row['taps']} taps, {row['feature_dims']:,} dims, {row['classes']} "
            f"classes, batch {row['batch_size']})"
        )
    return lines


def _problem_lines(report: dict[str, Any]) -> list[str]:
    peak = report["peak_gib"]
    lines = [f"peak GPU memory: {peak} GiB" if peak is not None else "peak GPU memory: — (no GPU)"]
    for part in MEASURED:
        for row in report[part]:
            if "error" in row:
                what = " ".join(
                    str(row[k]) for k in ("model", "resolution", "precision") if k in row
                )
                lines.append(f"error in {part} {what}: {row['error']}")
    if report["skipped"]:
        budget = report["settings"]["budget_s"]
        lines.append(f"skipped (time budget {budget:g} s): " + "; ".join(report["skipped"]))
    return lines


def _study_lines(report: dict[str, Any]) -> list[str]:
    lines = [
        'GPU-hours per paper study at these rates (assumptions: "assumptions" in gpu.json)',
        f"  {'study':<20}{'jobs':>5}" + "".join(f"{p:>12}" for p in PARTS),
    ]
    total = 0.0
    for row in report["studies"]:
        hours = row["gpu_hours"]
        jobs = "" if row["jobs"] is None else row["jobs"]
        if hours is None:
            lines.append(f"  {row['study']:<20}{jobs:>5}  not estimated: {row['why']}")
            continue
        same = row.get("same_jobs_as")
        total += 0.0 if same else hours["total"]
        lines.append(
            f"  {row['study']:<20}{jobs:>5}"
            + "".join(f"{hours[p]:>12.1f}" for p in PARTS)
            + (f"  (the jobs of {same})" if same else "")
        )
    lines.append(f"  {'every distinct job':<25}{'':>48}{total:>12.1f}")
    return lines


def render(report: dict[str, Any]) -> str:
    """The table printed at the end: rates, ratios, memory, GPU-hours per study."""
    info = report["device"]
    memory = f", {info['memory_gib']} GiB" if "memory_gib" in info else ""
    sections = [
        [
            f"{info['name']} ({info['device']}{memory}), torch {info['torch']}, "
            f"CUDA {info['cuda']}; measured in {report['seconds']} s"
        ],
        _pretrain_lines(report),
        _extraction_lines(report),
    ]
    if report["probe_heads"]:
        sections.append(_head_lines(report))
    sections.append(_problem_lines(report))
    if report["studies"]:
        sections.append(_study_lines(report))
    return "\n\n".join("\n".join(lines) for lines in sections)
