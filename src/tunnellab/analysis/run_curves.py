"""Per-run curve figures (the paper's Figure 1 view) from the per-tap rows of many runs."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from tunnellab.analysis.curves import plot_mean_ood_curve


def safe_name(text: str) -> str:
    """A file-name-safe version of a backbone label."""
    return re.sub(r"[^A-Za-z0-9_.+-]+", "_", str(text)).strip("_")[:120] or "run"


def plot_run_curves(
    taps: pd.DataFrame,
    out_dir: str | Path,
    band: str = "std",
    max_runs: int | None = None,
    titles: dict[str, str] | None = None,
) -> list[Path]:
    """One PNG + PDF per backbone with ID and OOD per-tap rows; returns the PNG paths.

    ``taps`` has ``backbone, dataset, role, tap_index, tap_name, accuracy_value``; runs without
    an ID curve or an OOD curve are skipped. At most ``max_runs`` figures are drawn.
    """
    out_dir = Path(out_dir)
    written: list[Path] = []
    for backbone, rows in taps.groupby("backbone", sort=False):
        if max_runs is not None and len(written) >= max_runs:
            break
        rows = rows.sort_values("tap_index")
        id_rows = rows[rows["role"] == "id"]
        ood = {
            str(name): part["accuracy_value"].to_numpy(float)
            for name, part in rows[rows["role"] == "ood"].groupby("dataset", sort=False)
        }
        if id_rows.empty or not ood:
            continue
        png, _ = plot_mean_ood_curve(
            id_rows["accuracy_value"].to_numpy(float),
            ood,
            id_rows["tap_name"].astype(str).tolist(),
            out_dir / safe_name(str(backbone)),
            title=(titles or {}).get(str(backbone), str(backbone)),
            band=band,
            id_label=f"ID ({id_rows['dataset'].iloc[0]})",
        )
        written.append(png)
    return written
