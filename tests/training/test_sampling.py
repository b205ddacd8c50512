"""Epoch sampling: a function of (seed, epoch), DDP shares, and exact sampling weights."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from segblur.data import Sample  # noqa: E402
from segblur.training.sampling import (  # noqa: E402
    VIEW_ASPECTS,
    EpochSampler,
    ShapeBatches,
    epoch_draws,
    epoch_order,
    max_view_side,
    sampling_groups,
    view_shape,
)


def test_epoch_sampler_is_a_function_of_seed_and_epoch_and_splits_ranks() -> None:
    s = EpochSampler(10, seed=1)
    s.set_epoch(4)
    first = list(s)
    s.set_epoch(5)
    assert list(s) != first
    s.set_epoch(4)
    assert list(s) == first and sorted(first) == list(range(10))
    ranks = [EpochSampler(10, seed=1, rank=r, world=3) for r in range(3)]
    for r in ranks:
        r.set_epoch(4)
    shares = [list(r) for r in ranks]
    assert all(len(x) == 4 for x in shares)
    assert set(sum(shares, [])) == set(range(10))


def test_uniform_sampling_is_the_permutation_runs_have_always_drawn() -> None:
    # One group of weight 1 keeps the order of earlier segblur versions: torch.randperm seeded by (seed, epoch).
    g = torch.Generator().manual_seed(7 * 100_003 + 3)
    assert epoch_order([(range(12), 1.0)], seed=7, epoch=3) == torch.randperm(12, generator=g).tolist()
    s = EpochSampler(12, seed=7)
    s.set_epoch(3)
    assert list(s) == torch.randperm(12, generator=torch.Generator().manual_seed(7 * 100_003 + 3)).tolist()


@pytest.mark.parametrize("epoch", range(4))
def test_weights_are_exact_per_group(epoch: int) -> None:
    groups = [(list(range(0, 10)), 1.0), (list(range(10, 17)), 2.0), (list(range(17, 29)), 0.25),
              (list(range(29, 34)), 1.6), (list(range(34, 36)), 0.0)]
    order = epoch_order(groups, seed=5, epoch=epoch)
    assert len(order) == epoch_draws(groups) == 10 + 14 + 3 + 8 + 0
    counts = Counter(order)
    for idx, w in groups:
        assert sum(counts[i] for i in idx) == round(w * len(idx))  # exactly, every epoch
        assert all(int(w) <= counts[i] <= int(w) + 1 for i in idx)  # each image floor(w) or ceil(w) times
    assert order == epoch_order(groups, seed=5, epoch=epoch)  # resumable: the same draws for (seed, epoch)
    assert order != epoch_order(groups, seed=5, epoch=epoch + 1)


def test_partial_weights_rotate_which_images_are_drawn() -> None:
    groups = [(list(range(20)), 0.25)]
    seen = set()
    for epoch in range(12):
        seen |= set(epoch_order(groups, seed=0, epoch=epoch))
    assert len(seen) > 15  # not always the same five


def test_groups_follow_the_sample_sources() -> None:
    p = Path("x.jpg")
    samples = [Sample("a", p, p, "shen/train"), Sample("b", p, p, "shen/train"), Sample("c", p, p, "vikram/train"),
               Sample("d", p, p, "other")]
    groups = sampling_groups(samples, {"shen/train": 1.0, "vikram/train": 2.0})
    assert groups == [([0, 1], 1.0), ([2], 2.0), ([3], 1.0)]
    s = EpochSampler(4, seed=0, groups=groups, world=2)
    assert s.draws == 5 and len(s) == 3
    s.set_epoch(1)
    assert Counter(list(s) + list(EpochSampler(4, seed=0, groups=groups, world=2, rank=1)))[2] >= 2


def test_shape_batches_give_each_batch_one_shape_as_a_function_of_seed_and_epoch() -> None:
    sampler = EpochSampler(100, seed=5)
    batches = ShapeBatches(sampler, 8, 192, seed=5)
    assert len(batches) == 100 // 8
    sampler.set_epoch(2)
    first = list(batches)
    assert len(first) == 12 and all(len(b) == 8 for b in first)
    assert [i for b in first for i, _ in b] == list(sampler)[:96]  # the sampler's draws, in order
    for b in first:
        assert len({shape for _, shape in b}) == 1
    shapes = [b[0][1] for b in first]
    assert len(set(shapes)) > 2 and any(h < w for h, w in shapes) and any(h > w for h, w in shapes)
    assert [b[0][1] for b in batches] == shapes  # the same epoch again: the same shapes
    sampler.set_epoch(3)
    assert [b[0][1] for b in batches] != shapes
    lo, hi = view_shape(192, VIEW_ASPECTS[0]), view_shape(192, VIEW_ASPECTS[1])
    assert (lo, hi) == ((256, 144), (144, 256)) and max_view_side(192) == 256
    assert all(min(lo[1], hi[0]) <= min(s) and max(s) <= 256 for s in shapes)


@pytest.mark.parametrize("seed", [2**48, 2**63 - 1])
def test_a_large_seed_draws_an_order(seed: int) -> None:
    # torch's generators take 64 bits: seed * 100003 * 1000003 overflowed them ("Overflow when unpacking long long").
    groups = [(range(4), 1.0), (range(4, 8), 1.5)]
    order = epoch_order(groups, seed, 3)
    assert order == epoch_order(groups, seed, 3) and len(order) == epoch_draws(groups)
    assert epoch_order(groups, 5, 3) == epoch_order(groups, 5 + 2**64, 3)  # as before for the seeds that worked
