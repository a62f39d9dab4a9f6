"""Tiny run and sweep dirs in the real result-file format, for the report tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf
from PIL import Image

TAPS = 6
#: OOD set → % retained written into tunnel_metrics.csv (strong and negligible; mean 74.5).
RETAINED = {"glyphs": 52.0, "digits": 97.0}
ID_ACCURACY = 0.875


def write_run(run_dir: Path, seed: int = 0, embeddings: bool = True) -> Path:
    """A finished run dir: probe_results.csv (with rank and NC1), tunnel_metrics.csv,
    config.yaml, done.json, Hydra's overrides record and an ``embeddings.png``."""
    run_dir.mkdir(parents=True)
    variables = {
        "run_id": f"lab/smoke-{seed}",
        "model": "vggm11",
        "width": 0.125,
        "resolution": 32,
        "augmentation": "none",
        "id_dataset": "lab",
        "id_classes": 10,
        "samples_per_class": 100,
        "seed": seed,
        "depth": 11,
        "stem": 3,
        "spatial_reduction": 0.5,
        "overparam": 3.1,
    }
    rows = []
    taps = np.arange(1, TAPS + 1)
    curves = {
        "lab": np.linspace(0.2, ID_ACCURACY, TAPS),
        "glyphs": np.array([0.1, 0.3, 0.5, 0.4, 0.3, 0.26]),
        "digits": np.array([0.2, 0.3, 0.4, 0.5, 0.6, 0.582]),
    }
    for dataset, acc in curves.items():
        role = "id" if dataset == "lab" else "ood"
        for t, a in zip(taps, acc + 0.01 * seed, strict=True):
            rows.append(
                {
                    **variables,
                    "dataset": dataset,
                    "role": role,
                    "tap_index": int(t),
                    "tap_name": f"conv{t}",
                    "n_classes": 10,
                    "acc_best": a,
                    "acc_last": a,
                    "acc_selected": a,
                    "rank": 4 * t if role == "id" else np.nan,
                    "rank_fraction": t / TAPS if role == "id" else np.nan,
                    "nc1": 10.0 / t if role == "id" else np.nan,
                }
            )
    pd.DataFrame(rows).to_csv(run_dir / "probe_results.csv", index=False)
    metrics = [
        {
            **variables,
            "dataset": dataset,
            "n_classes": 10,
            "accuracy": "selected",
            "retained": retained,
            "pearson": 0.5,
            "alignment": 0.2,
            "tunnel_start": 3,
            "id_saturation_start": 5,
            "peak_tap": 3,
            "strength": "strong" if retained < 80 else "negligible",
            "id_accuracy": ID_ACCURACY,
        }
        for dataset, retained in RETAINED.items()
    ]
    pd.DataFrame(metrics).to_csv(run_dir / "tunnel_metrics.csv", index=False)
    (run_dir / "config.yaml").write_text(f"seed: {seed}\nmodel:\n  name: vggm11\n")
    done = {"backbone_id_accuracy": ID_ACCURACY, "torch_threads": 1, "world_size": 1}
    (run_dir / "done.json").write_text(json.dumps(done))
    (run_dir / ".hydra").mkdir()
    OmegaConf.save(OmegaConf.create([f"seed={seed}"]), run_dir / ".hydra" / "overrides.yaml")
    if embeddings:
        pixels = np.zeros((24, 32, 3), dtype=np.uint8)
        pixels[:, :16] = (200, 40, 40)
        Image.fromarray(pixels).save(run_dir / "embeddings.png")
    return run_dir


def write_sweep(root: Path, jobs: int = 3) -> Path:
    """A multirun dir with ``jobs`` finished runs (seeds 0..jobs-1)."""
    for job in range(jobs):
        write_run(root / str(job), seed=job)
    return root
