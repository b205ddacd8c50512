"""Which samples an epoch draws, in which order: a function of (seed, epoch) only, so a resumed run draws the same.

Sampling weights are exact: a group of n images with weight w is drawn round(w * n) times per epoch, every image
floor(w) or ceil(w) times (the images that get the extra draw change from epoch to epoch).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from ..data import Sample
from ..runtime.resize import kept_size

Groups = Sequence[tuple[Sequence[int], float]]

# Aspect ratios (width / height) of ``resize: keep`` training views: phone video (9:16) to camera and film (16:9).
VIEW_ASPECTS = (9 / 16, 16 / 9)


def sampling_groups(samples: Sequence[Sample], weights: dict[str, float]) -> list[tuple[list[int], float]]:
    """(indices, weight) per :attr:`Sample.source`, in order of appearance; a source without a weight has 1."""
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(samples):
        groups.setdefault(s.source, []).append(i)
    return [(idx, float(weights.get(source, 1.0))) for source, idx in groups.items()]


def epoch_draws(groups: Groups) -> int:
    """Samples per epoch: the sum of round(weight * size) over the groups."""
    return sum(round(w * len(idx)) for idx, w in groups)


def epoch_order(groups: Groups, seed: int, epoch: int) -> list[int]:
    """The epoch's sample indices, shuffled. One group of weight 1 over range(n) is ``torch.randperm(n)``."""
    base = seed * 100_003 + epoch
    picks: list[int] = []
    for k, (idx, w) in enumerate(groups):
        full, part = divmod(round(w * len(idx)), len(idx)) if len(idx) else (0, 0)
        picks += list(idx) * full
        if part:  # which images get one more draw this epoch
            g = torch.Generator().manual_seed((base * 1_000_003 + k + 1) % 2**64)
            picks += [idx[i] for i in torch.randperm(len(idx), generator=g)[:part].tolist()]
    g = torch.Generator().manual_seed(base % 2**64)  # torch takes 64 bits: a large seed wraps
    return [picks[i] for i in torch.randperm(len(picks), generator=g).tolist()]


class EpochSampler(Sampler[int]):
    """This rank's share of :func:`epoch_order` (every sample once when no groups are given): resumable, DDP-aware."""

    def __init__(self, n: int, seed: int, rank: int = 0, world: int = 1, shuffle: bool = True,
                 groups: Groups | None = None) -> None:
        self.n, self.seed, self.rank, self.world, self.shuffle = n, seed, rank, world, shuffle
        self.groups = list(groups) if groups is not None else [(range(n), 1.0)]
        self.draws = epoch_draws(self.groups)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the draws of ``epoch``."""
        self.epoch = epoch

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.n))
        return epoch_order(self.groups, self.seed, self.epoch)

    def __iter__(self) -> Iterator[int]:
        order = self._order()
        per = len(self)
        total = per * self.world
        order = (order * (total // max(1, len(order)) + 1))[:total]  # pad so every rank gets the same count
        return iter(order[self.rank:total:self.world])

    def __len__(self) -> int:
        return -(-(self.draws if self.shuffle else self.n) // self.world)


def view_shape(size: int, aspect: float) -> tuple[int, int]:
    """(h, w) of a ``resize: keep`` view of ``aspect`` (width / height) at about size x size pixels."""
    return kept_size(10_000, max(1, round(10_000 * aspect)), (size, size))


def max_view_side(size: int) -> int:
    """The longest side any ``resize: keep`` view of ``size`` can have."""
    return max(max(view_shape(size, a)) for a in VIEW_ASPECTS)


class ShapeBatches(Sampler[list]):
    """Batches of ``sampler``'s draws, each with one view shape: [(index, (h, w)), ...] for ``resize: keep``.

    A batch's aspect ratio is log-uniform in :data:`VIEW_ASPECTS`, a function of (seed, epoch, batch) only, so a
    resumed run draws the same shapes; the last incomplete batch is dropped.
    """

    def __init__(self, sampler: EpochSampler, batch_size: int, size: int, seed: int) -> None:
        self.sampler, self.batch_size, self.size, self.seed = sampler, batch_size, size, seed

    def __iter__(self) -> Iterator[list]:
        rng = np.random.default_rng([self.seed % 2**63, self.sampler.epoch, 7])
        lo, hi = (math.log(a) for a in VIEW_ASPECTS)
        batch: list[int] = []
        for i in self.sampler:
            batch.append(i)
            if len(batch) == self.batch_size:
                shape = view_shape(self.size, math.exp(rng.uniform(lo, hi)))
                yield [(j, shape) for j in batch]
                batch = []

    def __len__(self) -> int:
        return len(self.sampler) // self.batch_size
