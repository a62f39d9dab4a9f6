"""Training-order samplers that depend only on ``(seed, epoch)`` and shard themselves under DDP."""

from __future__ import annotations

import torch
from torch.utils.data import Sampler

from tunnellab.data.sampling import repeated_augmentation_order, repeated_epoch_length


def process_group() -> tuple[int, int]:
    """``(rank, world size)`` of the running DDP job; ``(0, 1)`` outside one."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def seeded_permutation(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The random order of epoch ``epoch`` (the same for every rank and on resume)."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


class RepeatedAugSampler(Sampler[int]):
    """DeiT's repeated-augmentation sampler (``RASampler``), seeded by ``(seed, epoch)``.

    An epoch is :func:`~tunnellab.data.sampling.repeated_augmentation_order` of the epoch's
    permutation: every index ``repeats`` times in a row, cut to ``n // 256 * 256`` entries, which
    is what the released 4-process runs saw in total per epoch (each copy gets its own crop).
    Under DDP rank ``r`` of ``W`` takes entries ``r, r + W, ...`` (the tail that does not split
    evenly is dropped), so a step of all ranks together reads the same global batch as one
    process does. Lightning calls :meth:`set_epoch`; a resumed run replays the same epochs.
    """

    def __init__(self, n: int, repeats: int, seed: int, copy_keys: bool = False) -> None:
        if repeats < 1:
            raise ValueError(f"repeats must be >= 1, got {repeats}")
        self.n = n
        self.repeats = repeats
        self.seed = seed
        self.copy_keys = copy_keys  # yield i + k·n for copy k of image i (its own crop draws)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def epoch_order(self) -> torch.Tensor:
        """Every index this epoch reads, over all ranks, in order (as draw keys with
        ``copy_keys``: copy ``k`` of image ``i`` is ``i + k·n``)."""
        order = seeded_permutation(self.n, self.seed, self.epoch)
        order = repeated_augmentation_order(order, self.repeats)
        if self.copy_keys:  # the copies of an image stand next to each other
            order = order + self.n * (torch.arange(len(order)) % self.repeats)
        return order

    def __len__(self) -> int:
        return repeated_epoch_length(self.n) // process_group()[1]

    def __iter__(self):
        rank, world = process_group()
        order = self.epoch_order()
        return iter(order[: len(order) // world * world][rank::world].tolist())
