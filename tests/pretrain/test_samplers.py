"""DeiT's repeated-augmentation sampler: counts, the released 4-process union, shards, resume."""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

from tunnellab.data.sampling import repeated_augmentation_order
from tunnellab.pretrain import samplers
from tunnellab.pretrain.samplers import RepeatedAugSampler, seeded_permutation


def deit_rank_shards(perm: list[int], world: int) -> list[list[int]]:
    """What each rank of DeiT's RASampler reads for one epoch, written from its description: the
    permutation with every index 3 times in a row, padded from its start to a multiple of the
    world size, rank r takes every world-th entry from r and keeps floor(N // 256 * 256 / world)."""
    n = len(perm)
    repeated = [i for i in perm for _ in range(3)]
    total = math.ceil(n * 3 / world) * world
    repeated += repeated[: total - len(repeated)]
    keep = (n // 256 * 256) // world
    return [repeated[rank:total:world][:keep] for rank in range(world)]


def _epoch(monkeypatch, sampler: RepeatedAugSampler, rank: int, world: int) -> list[int]:
    monkeypatch.setattr(samplers, "process_group", lambda: (rank, world))
    order = list(sampler)
    assert len(order) == len(sampler)
    return order


@pytest.mark.parametrize(("n", "distinct", "partial"), [(1000, 256, 0), (1100, 341, 1)])
def test_an_epoch_repeats_each_drawn_index_three_times_and_keeps_n_floor_256(
    monkeypatch, n, distinct, partial
):
    order = _epoch(monkeypatch, RepeatedAugSampler(n, repeats=3, seed=0), 0, 1)
    assert len(order) == n // 256 * 256
    counts = Counter(Counter(order).values())
    assert counts == ({3: distinct, 1: partial} if partial else {3: distinct})
    assert all(order[k] == order[k + 1] == order[k + 2] for k in range(0, 3 * distinct, 3))


@pytest.mark.parametrize("n", [1000, 1100, 2561])
def test_one_process_sees_the_union_of_the_released_four_rank_shards(monkeypatch, n):
    sampler = RepeatedAugSampler(n, repeats=3, seed=5)
    sampler.set_epoch(2)
    ours = _epoch(monkeypatch, sampler, 0, 1)
    shards = deit_rank_shards(seeded_permutation(n, 5, 2).tolist(), world=4)
    assert Counter(ours) == Counter(i for shard in shards for i in shard)
    # Step t of the 4 processes (per-GPU batch b) reads a contiguous chunk of 4·b entries.
    b = 16
    for t in range(len(shards[0]) // b):
        released = sorted(i for shard in shards for i in shard[t * b : (t + 1) * b])
        assert sorted(ours[t * 4 * b : (t + 1) * 4 * b]) == released


@pytest.mark.parametrize("world", [2, 4])
def test_ddp_ranks_split_the_same_epoch_and_four_ranks_match_deit(monkeypatch, world):
    sampler = RepeatedAugSampler(1100, repeats=3, seed=1)
    whole = _epoch(monkeypatch, sampler, 0, 1)
    shards = [_epoch(monkeypatch, sampler, rank, world) for rank in range(world)]
    assert {len(s) for s in shards} == {len(whole) // world}
    for rank, shard in enumerate(shards):
        assert shard == whole[rank::world][: len(whole) // world]
    if world == 4:
        assert shards == deit_rank_shards(seeded_permutation(1100, 1, 0).tolist(), 4)


def test_order_depends_on_seed_and_epoch_only_so_a_resumed_run_replays_it(monkeypatch):
    walked = RepeatedAugSampler(600, repeats=3, seed=3)
    for epoch in range(4):
        walked.set_epoch(epoch)
        seen = _epoch(monkeypatch, walked, 0, 1)
    resumed = RepeatedAugSampler(600, repeats=3, seed=3)
    resumed.set_epoch(3)
    assert _epoch(monkeypatch, resumed, 0, 1) == seen
    resumed.set_epoch(2)
    assert _epoch(monkeypatch, resumed, 0, 1) != seen
    other_seed = RepeatedAugSampler(600, repeats=3, seed=4)
    other_seed.set_epoch(3)
    assert _epoch(monkeypatch, other_seed, 0, 1) != seen


def test_a_split_smaller_than_256_keeps_one_pass_worth():
    order = repeated_augmentation_order(torch.arange(10), 3)
    assert order.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    with pytest.raises(ValueError, match="repeats"):
        repeated_augmentation_order(torch.arange(10), 0)
