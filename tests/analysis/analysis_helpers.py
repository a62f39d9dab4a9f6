"""Synthetic inputs of the analysis tests: a study with known effects, run dirs in real format."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

#: (model, depth, stem, spatial reduction, parameters) of the synthetic study's models.
MODELS = {
    "vggm11": (11, 3, 0.5, 1_000),
    "vggm17": (17, 3, 0.5, 2_000),
    "resnet18": (18, 7, 0.25, 1_200),
    "resnet34": (34, 7, 0.25, 2_200),
}
OOD = ("glyphs", "digits", "heldout")
TAPS = 5


def study_rows(
    models=("vggm11", "vggm17"), resolutions=(32, 224), datasets=OOD
) -> list[dict[str, object]]:
    """Run variables + metrics with known effects: aug +10, 224² +5, depth 17 −8 (retained)."""
    rows = []
    for model, res, aug, (d, dataset) in itertools.product(
        models, resolutions, ("none", "rrc_flip"), enumerate(datasets)
    ):
        depth, stem, phi, params = MODELS[model]
        retained = 50 + 10 * (aug != "none") + 5 * (res == 224) - 8 * (depth == 17) + 2 * d
        rows.append(
            {
                "run_id": f"{model}-{res}-{aug}",
                "model": model,
                "resolution": res,
                "augmentation": aug,
                "id_dataset": "lab",
                "id_classes": 10,
                "samples_per_class": 100,
                "seed": 0,
                "depth": depth,
                "stem": stem,
                "spatial_reduction": phi,
                "overparam": params / 1000,
                "dataset": dataset,
                "retained": float(retained),
                "pearson": 0.5 + retained / 200,
                "alignment": retained / 400,
            }
        )
    return rows


def _curves(retained: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A saturating ID curve and an OOD curve whose last tap keeps ``retained`` % of its peak."""
    acc_id = np.linspace(0.3, 0.9, TAPS)
    peak = 0.6 + 0.05 * rng.random()
    acc_ood = np.concatenate([np.linspace(0.2, peak, TAPS - 1), [peak * retained / 100]])
    return acc_id, acc_ood


def write_run_dir(run_dir: Path, rows: list[dict[str, object]], metrics: bool = True) -> None:
    """One run dir in the real file format: probe_results.csv (+ tunnel_metrics.csv)."""
    rng = np.random.default_rng(len(str(run_dir)))
    run_dir.mkdir(parents=True)
    variables = {k: v for k, v in rows[0].items() if k not in ("dataset", "retained", "pearson")}
    variables.pop("alignment")
    variables.update(width=0.125, taps_kind="paper", params=1000)
    probe_rows, metric_rows = [], []
    acc_id = None
    for row in rows:
        acc_id, acc_ood = _curves(float(row["retained"]), rng)
        for t in range(TAPS):
            probe_rows.append(
                {
                    **variables,
                    "dataset": row["dataset"],
                    "role": "ood",
                    "tap_index": t + 1,
                    "tap_name": f"conv{t + 1}",
                    "n_classes": 10,
                    "acc_best": acc_ood[t],
                    "acc_last": acc_ood[t],
                    "acc_selected": acc_ood[t],
                }
            )
        metric_rows.append(
            {
                **variables,
                "dataset": row["dataset"],
                "n_classes": 10,
                "accuracy": "selected",
                "retained": row["retained"],
                "pearson": row["pearson"],
                "alignment": row["alignment"],
                "tunnel_start": TAPS - 1,
                "strength": "strong",
                "id_accuracy": 0.9,
            }
        )
    for t in range(TAPS):
        probe_rows.append(
            {
                **variables,
                "dataset": "lab",
                "role": "id",
                "tap_index": t + 1,
                "tap_name": f"conv{t + 1}",
                "n_classes": 10,
                "acc_best": acc_id[t],
                "acc_last": acc_id[t],
                "acc_selected": acc_id[t],
            }
        )
    pd.DataFrame(probe_rows).to_csv(run_dir / "probe_results.csv", index=False)
    if metrics:
        pd.DataFrame(metric_rows).to_csv(run_dir / "tunnel_metrics.csv", index=False)
