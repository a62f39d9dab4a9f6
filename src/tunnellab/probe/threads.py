"""How many CPU threads the probe heads use.

A probe step is dozens of small ops (tens to hundreds of microseconds each). Split over several
OpenMP threads, every op ends in a barrier, and on a shared or busy machine one descheduled
thread stalls the whole op for a time slice: measured here, 2 threads on 2 busy cores ran the
heads 10-30x slower than 1. So the head loops run with one intra-op thread on CPU; the
backbone passes (large convolutions) keep all threads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

HEAD_THREADS = 1


@contextmanager
def cpu_threads(n: int | None, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run the block with ``n`` intra-op threads when on CPU (``None`` or a GPU: unchanged)."""
    if n is None or torch.device(device).type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
