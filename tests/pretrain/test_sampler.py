"""The training order: seeded by (seed, epoch), sharded across DDP ranks without overlap."""

from __future__ import annotations

import pytest

from tunnellab.pretrain import datamodule
from tunnellab.pretrain.datamodule import EpochShuffleSampler


def _order(monkeypatch, rank: int, world: int, epoch: int, n: int = 103) -> list[int]:
    monkeypatch.setattr(datamodule, "process_group", lambda: (rank, world))
    sampler = EpochShuffleSampler(n, seed=7)
    sampler.set_epoch(epoch)
    order = list(sampler)
    assert len(order) == len(sampler)
    return order


def test_one_process_sees_every_index_in_an_order_set_by_seed_and_epoch(monkeypatch):
    first = _order(monkeypatch, 0, 1, epoch=0)
    assert sorted(first) == list(range(103))
    assert _order(monkeypatch, 0, 1, epoch=0) == first
    assert _order(monkeypatch, 0, 1, epoch=1) != first


@pytest.mark.parametrize("world", [2, 4])
def test_ranks_take_disjoint_equal_shards_of_the_same_order(monkeypatch, world):
    for epoch in (0, 3):
        shards = [_order(monkeypatch, rank, world, epoch) for rank in range(world)]
        assert {len(s) for s in shards} == {103 // world}
        seen = [i for shard in shards for i in shard]
        assert len(seen) == len(set(seen))  # no index on two ranks
        whole = _order(monkeypatch, 0, 1, epoch)
        assert shards[1] == whole[1 : 103 // world * world : world]
    assert _order(monkeypatch, 1, world, 0) != _order(monkeypatch, 1, world, 1)
