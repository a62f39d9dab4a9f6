"""``make data-check``: for every real dataset config, found or missing, images per split, classes.

Only indexes (file lists, label files): nothing is decoded, downloaded or cached.
``python -m tunnellab.cli.data_check [--data-dir DIR]`` (default: ``paths.data_dir`` as configured).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from tunnellab.config import compose_config, config_dir
from tunnellab.errors import TunnellabError
from tunnellab.instantiate import builder_node

BUILT_IN = ("lab",)
TEMPLATES = ("torchvision",)  # needs data.dataset=<class>: no dataset of its own to look for


@dataclass
class CheckRow:
    """One dataset config: where it looks, whether it is there, what it holds."""

    config: str
    location: str
    status: str = "found"
    sizes: dict[str, int] = field(default_factory=dict)
    classes: int | None = None
    problem: str = ""

    def line(self) -> str:
        sizes = "  ".join(f"{k} {v:,}" for k, v in self.sizes.items())
        if self.status == "found":
            return f"{self.config:<28} found    {sizes}  ({self.classes} classes)  {self.location}"
        return f"{self.config:<28} {self.status:<8} {self.problem}"


def _options(group: str) -> list[str]:
    skip = (*BUILT_IN, *TEMPLATES)
    return sorted(p.stem for p in (config_dir() / group).glob("*.yaml") if p.stem not in skip)


def _location(node: dict[str, Any]) -> str:
    return str(node.get("root") or node.get("path") or "")


def check_node(config: str, node: DictConfig) -> CheckRow:
    """Index the dataset ``node`` describes (downloads off) and summarise it."""
    plain = OmegaConf.to_container(builder_node(node), resolve=True)
    row = CheckRow(config=config, location=_location(plain))
    index = getattr(get_method(plain.pop("_target_")), "index", None)
    if index is None:
        row.status, row.problem = "skipped", "not a file-backed dataset"
        return row
    if "download" in plain:
        plain["download"] = False
    try:
        sources = index(**plain)
    except TunnellabError as err:
        row.status, row.problem = "missing", str(err).split(". Expected layout")[0]
        return row
    row.sizes, row.classes = sources.sizes(), len(sources.classes)
    return row


def dataset_configs(overrides: list[str]) -> Iterator[tuple[str, DictConfig]]:
    """(label, node) for every ID data config and every entry of every OOD suite."""
    for option in _options("data"):
        yield f"data={option}", compose_config([f"data={option}", *overrides]).data
    seen: set[str] = set()
    for option in _options("ood"):
        cfg = compose_config([f"ood={option}", *overrides])
        for name, node in cfg.ood.datasets.items():
            identity = json.dumps(OmegaConf.to_container(node, resolve=True), sort_keys=True)
            if identity not in seen:
                seen.add(identity)
                yield f"ood={option}: {name}", node


def check_all(overrides: list[str]) -> list[CheckRow]:
    return [check_node(label, node) for label, node in dataset_configs(overrides)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="look here instead of paths.data_dir")
    args = parser.parse_args(argv)
    overrides = [f"paths.data_dir={args.data_dir}"] if args.data_dir else []
    rows = check_all(overrides)
    for row in rows:
        print(row.line())
    found = sum(row.status == "found" for row in rows)
    print(
        f"\n{found} of {len(rows)} dataset configs found. How to get the others: docs/datasets.md"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
