"""The paper's model zoo at a glance: ``tunnellab-zoo --out DIR`` (``make zoo``).

Writes ``zoo.csv`` with one row per (model, resolution) for the eight paper models at 32, 64, 128
and 224: the exact parameter count with 100 classes, the paper's printed figure (millions,
truncated to two decimals; for ViT-T/T+ the figure that counts the unused halting gates), the number
of paper taps and the summed feature size of those taps (what the probes read at that resolution).
Models are built on PyTorch's ``meta`` device: shapes and counts are exact, and no memory or
compute is spent on weights, so the whole zoo takes about a second. Also
``python -m tunnellab.tools.zoo --out DIR``.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch

from tunnellab.atomic import atomic_write
from tunnellab.models.registry import count_parameters, create_model
from tunnellab.models.taps import tap_dims

PAPER_MODELS: tuple[str, ...] = (
    "vggm11",
    "vggm17",
    "vggm11_dagger",
    "vggm17_dagger",
    "resnet18",
    "resnet34",
    "vit_t",
    "vit_t_plus",
)
RESOLUTIONS: tuple[int, ...] = (32, 64, 128, 224)
NUM_CLASSES = 100
COLUMNS = ["model", "resolution", "params", "paper_params_m", "taps", "feature_dims"]
ZOO_CSV = "zoo.csv"


def printed_millions(n_params: int) -> float:
    """A parameter count as the paper prints it: millions truncated to two decimals."""
    return math.floor(n_params / 10_000) / 100


def zoo_table(
    models: Sequence[str] = PAPER_MODELS,
    resolutions: Sequence[int] = RESOLUTIONS,
    num_classes: int = NUM_CLASSES,
) -> pd.DataFrame:
    """One row per (model, resolution): params, paper figure, paper taps, summed feature size."""
    rows = []
    for name in models:
        with torch.device("meta"):
            model = create_model(name, num_classes=num_classes).eval()
        taps = model.taps("paper")
        for resolution in resolutions:
            dims = tap_dims(model, taps, resolution)  # a dry forward under no_grad
            params = count_parameters(model)  # after the forward: nothing depends on the input
            paper = model.meta.get("paper_params_m") or printed_millions(params)
            rows.append([name, resolution, params, paper, len(taps), sum(dims)])
    return pd.DataFrame(rows, columns=COLUMNS)


def markdown_table(table: pd.DataFrame) -> str:
    """The zoo as a Markdown table (counts with thousands separators)."""
    header = "| model | resolution | params (100 classes) | paper (M) | taps | feature dims |"
    lines = [header, "|---|---:|---:|---:|---:|---:|"]
    for row in table.itertuples(index=False):
        lines.append(
            f"| {row.model} | {row.resolution} | {row.params:,} | {row.paper_params_m:.2f} "
            f"| {row.taps} | {row.feature_dims:,} |"
        )
    return "\n".join(lines)


def write_zoo(out_dir: str | Path) -> tuple[pd.DataFrame, Path]:
    """Build the table and write ``<out_dir>/zoo.csv``; returns the table and the path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = zoo_table()
    path = atomic_write(out / ZOO_CSV, lambda tmp: table.to_csv(tmp, index=False))
    return table, path


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: ``--out DIR`` (default ``outputs/zoo``)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/zoo", help="directory for zoo.csv")
    args = parser.parse_args(argv)
    table, path = write_zoo(args.out)
    print(markdown_table(table))
    print(f"\nzoo: {len(table)} rows ({table['model'].nunique()} models) written to {path}")


if __name__ == "__main__":
    main()
