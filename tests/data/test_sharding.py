"""Which samples each rank sees: once per epoch across ranks, repeatable, reshuffled per epoch."""

from __future__ import annotations

import numpy as np
import pytest
from bundles import indexed_bundle, yielded_indices

from benchmark.data import ShardPlan, make_loader
from benchmark.errors import DatasetError


def plans(size: int, world_size: int, **options) -> list[ShardPlan]:
    return [ShardPlan(size, batch_size=4, rank=rank, world_size=world_size, **options)
            for rank in range(world_size)]  # fmt: skip


@pytest.mark.parametrize("size", [20, 23])
def test_exact_shards_cover_every_index_once_per_epoch(size):
    for epoch in (0, 1):
        shards = [plan.shard_indices(epoch) for plan in plans(size, 2, even=False)]
        assert sorted(np.concatenate(shards).tolist()) == list(range(size))
        assert abs(len(shards[0]) - len(shards[1])) <= 1


def test_unshuffled_exact_shards_concatenate_to_the_split_order():
    shards = [plan.shard_indices(0) for plan in plans(23, 3, even=False, shuffle=False)]
    assert np.concatenate(shards).tolist() == list(range(23))
    assert [len(shard) for shard in shards] == [8, 8, 7]


def test_even_shards_are_equal_and_the_remainder_sits_out_a_different_sample_each_epoch():
    sitting_out = []
    for epoch in range(6):
        shards = [plan.shard_indices(epoch) for plan in plans(23, 2, even=True)]
        assert [len(shard) for shard in shards] == [11, 11]
        seen = np.concatenate(shards)
        assert len(set(seen.tolist())) == 22  # no duplicates
        sitting_out.append(sorted(set(range(23)) - set(seen.tolist())))
    assert len({tuple(out) for out in sitting_out}) > 1
    assert [plan.num_batches for plan in plans(23, 2, even=True)] == [3, 3]


def test_order_is_fixed_by_seed_and_epoch_and_changes_with_either():
    plan = ShardPlan(50, batch_size=8, seed=7)
    assert np.array_equal(plan.shard_indices(3), ShardPlan(50, batch_size=8, seed=7)
                          .shard_indices(3))  # fmt: skip
    assert not np.array_equal(plan.shard_indices(3), plan.shard_indices(4))
    assert not np.array_equal(plan.shard_indices(3), ShardPlan(50, 8, seed=8).shard_indices(3))


def test_drop_last_drops_each_ranks_incomplete_batch():
    plan = ShardPlan(23, batch_size=4, drop_last=True)
    assert (plan.num_batches, plan.num_samples) == (5, 20)
    assert [len(batch) for batch in plan.batches(0)] == [4] * 5


def test_even_shards_need_at_least_one_sample_per_rank():
    with pytest.raises(DatasetError, match="fewer samples than workers"):
        ShardPlan(3, batch_size=4, rank=0, world_size=4, even=True)


def test_two_simulated_workers_load_every_sample_exactly_once_per_epoch():
    bundle = indexed_bundle(37)
    loaders = [make_loader(bundle, "val", batch_size=5, shuffle=True, seed=3, rank=rank,
                           world_size=2) for rank in range(2)]  # fmt: skip
    orders = []
    for epoch in (1, 2):
        seen = []
        for loader in loaders:
            loader.set_epoch(epoch)
            seen.append(yielded_indices(loader))
        assert sorted(seen[0] + seen[1]) == list(range(37))
        assert [len(loader) for loader in loaders] == [4, 4]  # 19 and 18 samples
        orders.append(seen)
    assert orders[0] != orders[1]
    loaders[0].set_epoch(1)
    assert yielded_indices(loaders[0]) == orders[0][0]


def test_the_train_loader_defaults_to_even_shards_so_ranks_step_together():
    bundle = indexed_bundle(37)
    loaders = [make_loader(bundle, "train", batch_size=5, rank=rank, world_size=2)
               for rank in range(2)]  # fmt: skip
    assert [loader.num_samples for loader in loaders] == [18, 18]
    assert len(loaders[0]) == len(loaders[1]) == 4
    seen = yielded_indices(loaders[0]) + yielded_indices(loaders[1])
    assert len(set(seen)) == 36
