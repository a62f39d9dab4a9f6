"""Which process of a multi-process (DDP) job this is, before and after Lightning starts."""

from __future__ import annotations

import os


def global_rank() -> int:
    """0 for the process that writes results; DDP ranks come from torchrun or SLURM."""
    for key in ("RANK", "GLOBAL_RANK"):
        if os.environ.get(key, "").isdigit():
            return int(os.environ[key])
    if int(os.environ.get("SLURM_NTASKS", "1") or 1) > 1:
        return int(os.environ.get("SLURM_PROCID", "0") or 0)
    return 0


def is_rank_zero() -> bool:
    return global_rank() == 0
