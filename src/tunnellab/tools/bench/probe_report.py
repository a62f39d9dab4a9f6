"""The probe benchmark's report: the headline numbers of ``probe.json``, the targets they are
held to, and the summary table printed at the end."""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np
import torch

from tunnellab.probe.threads import HEAD_THREADS
from tunnellab.tools.bench.probe_harness import BenchSize

TARGETS = {  # key in probe.json → (comparison, threshold)
    "speedup_vs_per_layer": (">=", 5.0),
    "speedup_vs_backbone_loop": (">=", 10.0),
    "tunnellab_total_over_extract": ("<=", 1.5),
    "max_acc_diff_vs_per_layer": ("<=", 1.0),
}


def machine() -> dict[str, Any]:
    return {
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "head_threads": HEAD_THREADS,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def summarize(result: dict[str, Any], size: BenchSize, n_train: int, n_test: int) -> dict:
    """The headline numbers of ``probe.json`` from the measured ``result``."""
    s = result["seconds"]
    acc = {k: np.array(v) for k, v in result["acc_best"].items()}
    ref_per_layer = s["extract"] + s["per_layer_heads"]
    out: dict[str, Any] = {
        "extract_s": round(s["extract"], 3),
        "heads_s": round(s["heads"], 3),
        "tunnellab_s": round(s["tunnellab"], 3),
        "ref_per_layer_s": round(ref_per_layer, 3),
        "ref_per_layer_heads_s": round(s["per_layer_heads"], 3),
        "ref_backbone_loop_s": round(s["backbone_loop"], 3),
        "tunnellab_total_over_extract": round(s["tunnellab"] / s["extract"], 3),
        "speedup_vs_per_layer": round(ref_per_layer / s["tunnellab"], 2),
        "speedup_vs_per_layer_heads_only": round(s["per_layer_heads"] / s["heads"], 2),
        "speedup_vs_backbone_loop": round(s["backbone_loop"] / s["tunnellab"], 2),
        "max_acc_diff_vs_per_layer": round(
            100 * float(np.abs(acc["tunnellab"] - acc["per_layer"]).max()), 2
        ),
        "mean_acc_diff_vs_per_layer": round(
            100 * float(np.abs(acc["tunnellab"] - acc["per_layer"]).mean()), 2
        ),
        "max_acc_diff_vs_backbone_loop": round(
            100 * float(np.abs(acc["tunnellab"] - acc["backbone_loop"]).max()), 2
        ),
        # Two independent references (own seeds; fp32 features on the fly): the noise floor.
        "max_acc_diff_between_references": round(
            100 * float(np.abs(acc["per_layer"] - acc["backbone_loop"]).max()), 2
        ),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "rss_before_tunnellab_mb": round(result["rss_before_mb"], 1),
        "peak_rss_scope": result["peak_rss_scope"],
        "cpu_total_over_extract": round(s["tunnellab_cpu"] / s["extract_cpu"], 3),
        "cpu_speedup_vs_per_layer": round(
            (s["extract_cpu"] + s["per_layer_heads_cpu"]) / s["tunnellab_cpu"], 2
        ),
        "cpu_speedup_vs_backbone_loop": round(s["backbone_loop_cpu"] / s["tunnellab_cpu"], 2),
        "cpu_seconds": {k[:-4]: round(v, 3) for k, v in s.items() if k.endswith("_cpu")},
        "sizes": {
            "model": size.model,
            "width": size.width,
            "resolution": size.resolution,
            "classes": size.classes,
            "n_train": n_train,
            "n_test": n_test,
            "taps": len(result["tap_names"]),
            "epochs": size.epochs,
            "batch_size": size.batch_size,
            "lr": size.lr,
            "feature_dims": result["feature_dims"],
        },
        "accuracy": {"acc_best": result["acc_best"], "acc_last": result["acc_last"]},
        "tap_names": result["tap_names"],
    }
    return out


def check_targets(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each target of the issue: its value, threshold and whether it was met."""
    checks = {}
    for key, (op, threshold) in TARGETS.items():
        value = report[key]
        met = value >= threshold if op == ">=" else value <= threshold
        checks[key] = {"value": value, "target": f"{op} {threshold:g}", "met": bool(met)}
    memory = report.get("memory_case")
    if memory:
        ok = memory["within_budget"] and memory["equal_to_in_memory"]
        checks["memory_case"] = {
            "value": f"peak {memory['peak_rss_mb']} MB (baseline {memory['baseline_rss_mb']} MB)",
            "target": f"<= baseline + {memory['budget_mb']} MB budget, equal results",
            "met": bool(ok),
        }
    return checks


def render(report: dict[str, Any]) -> str:
    """The summary table printed at the end of the run."""
    acc = {k: float(np.mean(v)) for k, v in report["accuracy"]["acc_best"].items()}
    sz = report["sizes"]
    lines = [
        f"{sz['model']} width {sz['width']:g} at {sz['resolution']}², {sz['taps']} taps, "
        f"{sz['n_train']} train / {sz['n_test']} test images, {sz['epochs']} probe epochs, "
        f"{report['machine']['threads']} threads on {report['machine']['cpu_count']} cores "
        f"(shared machine, load {report['machine']['load_average_at_start'][0]})",
        "",
        f"{'method':<46}{'wall s':>9}{'cpu s':>9}{'speedup':>9}{'mean acc':>10}",
    ]
    cpu = report["cpu_seconds"]
    rows = [
        ("(a) per-layer, DataLoader (released CNN code)", report["ref_per_layer_s"],
         cpu["extract"] + cpu["per_layer_heads"], report["speedup_vs_per_layer"], "per_layer"),
        ("(b) backbone in the loop (released ViT code)", report["ref_backbone_loop_s"],
         cpu["backbone_loop"], report["speedup_vs_backbone_loop"], "backbone_loop"),
        ("(c) tunnellab: extraction + all heads", report["tunnellab_s"], cpu["tunnellab"], 1.0,
         "tunnellab"),
    ]  # fmt: skip
    for name, wall, cpu_s, speedup, key in rows:
        lines.append(f"{name:<46}{wall:>9.2f}{cpu_s:>9.2f}{speedup:>8.1f}x{acc[key]:>10.4f}")
    lines.append(f"{'    of which the extraction pass':<46}{report['extract_s']:>9.2f}")
    lines.append("")
    for key, check in report["targets"].items():
        mark = "met" if check["met"] else "MISSED"
        lines.append(f"  {key:<32} {check['value']!s:<40} target {check['target']:<12} {mark}")
    if report["sizes"]["n_train"] < 1000:
        lines.append("  (a --tiny run: too small for the targets to mean anything)")
    memory = report.get("memory_case")
    if memory:
        lines += [
            "",
            f"memory case: {memory['n_train']} images, features {memory['features_mb']} MB, "
            f"RAM budget {memory['budget_mb']} MB → streamed to files: "
            f"{memory['streamed_to_files']}",
            f"  peak RSS {memory['peak_rss_mb']} MB = baseline {memory['baseline_rss_mb']} MB "
            f"(python, torch, data, model, after a warm-up run) + "
            f"{memory['peak_over_baseline_mb']} MB; "
            f"in memory: {memory['in_memory_peak_rss_mb']} MB; "
            f"identical results: {memory['equal_to_in_memory']}",
        ]
    return "\n".join(lines)
