"""``id_diversity`` for run dirs written before runs recorded it: copies of their tables with it.

``id_diversity`` depends only on the run's ID data, augmentation and seed, so it can be computed
for a finished run. The run's config is composed again from its Hydra overrides (data targets
may have moved since), checked against the recorded one, and the run's tables are copied with
the column into ``<out>/<sweep>-<job>/``: the run dir itself is left as it is.

    python -m tunnellab.tools.id_diversity OUT RUN_DIR [RUN_DIR ...]
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import yaml
from omegaconf import DictConfig, OmegaConf

from tunnellab.config.compose import compose_config
from tunnellab.errors import TunnellabError
from tunnellab.pipeline import instantiate_dataset, run_input_diversity
from tunnellab.run_identity import PROBE_RESULTS, TUNNEL_METRICS

__all__ = ["backfill", "recomposed_config"]

COLUMN = "id_diversity"


def _without_target(node: DictConfig) -> dict:
    """The node as a dict, without the (movable) ``_target_``."""
    data = OmegaConf.to_container(node, resolve=True)
    data.pop("_target_", None)
    return data


def recomposed_config(run_dir: Path) -> DictConfig:
    """The run's config from its ``.hydra/overrides.yaml``; its ``data``, ``aug`` and ``seed``
    must equal the recorded ones (keys the recorded config lacks are newer defaults: skipped)."""
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    recorded_file = run_dir / "config.yaml"
    if not overrides_file.is_file() or not recorded_file.is_file():
        raise TunnellabError(
            f"{run_dir} has no .hydra/overrides.yaml or config.yaml: id_diversity needs a run "
            "dir written by tunnellab-run."
        )
    cfg = compose_config(yaml.safe_load(overrides_file.read_text()) or [])
    recorded = OmegaConf.load(recorded_file)
    for key in ("data", "aug", "seed"):
        old, new = OmegaConf.select(recorded, key), OmegaConf.select(cfg, key)
        if isinstance(old, DictConfig):  # keys added since (with defaults) are not compared
            old, new = _without_target(old), _without_target(new)
            new = {k: v for k, v in new.items() if k in old}
        if old != new:
            raise TunnellabError(
                f"{run_dir}: '{key}' composed from its overrides ({new}) differs from the "
                f"recorded config.yaml ({old}); id_diversity cannot be recomputed for it."
            )
    return cfg


def backfill(run_dirs: Sequence[Path], out_dir: Path) -> pd.DataFrame:
    """Copy each run's tables with ``id_diversity`` into ``out_dir``; ``run_dir, id_diversity``."""
    records = []
    for run_dir in map(Path, run_dirs):
        cfg = recomposed_config(run_dir)
        value = run_input_diversity(cfg, instantiate_dataset(cfg.data))
        target = out_dir / f"{run_dir.parent.name}-{run_dir.name}"
        target.mkdir(parents=True, exist_ok=True)
        for name in (TUNNEL_METRICS, PROBE_RESULTS):
            if (run_dir / name).is_file():
                table = pd.read_csv(run_dir / name)
                table[COLUMN] = value
                table.to_csv(target / name, index=False)
        records.append({"run_dir": str(run_dir), COLUMN: value})
    return pd.DataFrame(records, columns=["run_dir", COLUMN])


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        print(backfill([Path(a) for a in args[1:]], Path(args[0])).to_string(index=False))
    except TunnellabError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
