"""``DatasetBundle.limited``: the smoke profile's few images per split, the same every time."""

from __future__ import annotations

from bundles import indexed_bundle, yielded_indices

from benchmark.data import make_loader


def test_each_split_keeps_at_most_the_limit_drawn_with_the_seed():
    bundle = indexed_bundle(100)
    limited = bundle.limited(10, seed=3)
    for name in ("train", "val", "test"):
        split = limited.split(name)
        assert len(split) == 10
        pixels = [int(split.read(i)[0, 0, 0]) for i in range(len(split))]
        assert pixels == sorted(set(pixels))  # distinct images, kept in dataset order
        assert set(pixels) <= set(range(100))
    again = bundle.limited(10, seed=3)
    assert [int(again.train.read(i)[0, 0, 0]) for i in range(10)] == [
        int(limited.train.read(i)[0, 0, 0]) for i in range(10)
    ]
    assert (limited.class_names, limited.mean, limited.std) == (
        bundle.class_names, bundle.mean, bundle.std,
    )  # fmt: skip


def test_a_split_smaller_than_the_limit_is_kept_whole_and_a_loader_reads_it():
    bundle = indexed_bundle(8)
    limited = bundle.limited(64)
    assert limited.train is bundle.train
    loader = make_loader(limited, "train", batch_size=4, shuffle=False)
    assert sorted(yielded_indices(loader)) == list(range(8))
