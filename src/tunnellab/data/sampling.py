"""Index orders shared by pretraining and probing: DeiT's repeated-augmentation epoch."""

from __future__ import annotations

import torch

# DeiT's RASampler keeps, per epoch, ``len(dataset) // 256 * 256`` entries over all ranks.
DEIT_MULTIPLE = 256


def repeated_augmentation_order(
    order: torch.Tensor, repeats: int, multiple: int = DEIT_MULTIPLE
) -> torch.Tensor:
    """One epoch of repeated augmentation over the permutation ``order`` of ``n`` indices.

    Each index is repeated ``repeats`` times in a row and the list is cut to ``n // multiple *
    multiple`` entries (``n`` when ``n < multiple``), so an epoch has about as many samples as
    the dataset but only about ``n / repeats`` distinct ones. This is the union of what the
    ranks of DeiT's RASampler see: with ``W`` ranks (``W`` dividing 256) rank ``r`` reads
    entries ``r, r + W, ...`` of this list, so its step ``t`` on all ranks together is the
    contiguous chunk ``[t·B, (t+1)·B)`` for the global batch ``B``.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    keep = repeated_epoch_length(len(order), multiple)
    distinct = -(-keep // repeats)  # only these indices can appear before the cut
    return order[:distinct].repeat_interleave(repeats)[:keep]


def repeated_epoch_length(n: int, multiple: int = DEIT_MULTIPLE) -> int:
    """Entries in a repeated-augmentation epoch over ``n`` indices: ``n // multiple * multiple``
    (``n`` itself when ``n < multiple``)."""
    return n // multiple * multiple or n
