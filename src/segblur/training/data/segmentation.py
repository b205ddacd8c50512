"""Torch view of a :class:`segblur.data.SegDataset`: augmented training crops and stretched eval images.

Decoded images and masks are cached in memory (shrunk to the largest size augmentation can use),
so an epoch costs only augmentation. The augmentation of item ``i`` depends only on
(seed, epoch, i), so runs are reproducible whatever the worker count.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch

from segblur.data import SegDataset
from segblur.training.data.transforms import (
    MEAN,
    STD,
    AugmentOptions,
    augment,
    default_augment,
    eval_resize,
    normalize,
    resize_max_side,
)

__all__ = ["MEAN", "STD", "AugmentOptions", "SegTorchDataset", "default_augment", "eval_collate"]


class SegTorchDataset(torch.utils.data.Dataset):
    """``train=True``: random (3xSxS float32, SxS int64 mask) views.

    ``train=False``: (3xSxS stretched image, HxW int64 mask at the original size).
    """

    def __init__(self, ds: SegDataset, split: str, train: bool, image_size: int, *, cache: bool = True,
                 augment: AugmentOptions | None = None, backgrounds: list[np.ndarray] | None = None,
                 seed: int = 0) -> None:
        self.ds = ds
        self.split = split
        self.samples = ds.samples(split)
        self.train = train
        self.image_size = int(image_size)
        self.cache = cache
        self.augment = augment if augment is not None else default_augment(ds.kind)
        self.backgrounds = backgrounds or None
        self.seed = seed
        # The epoch lives in shared memory, so setting it in the main process reaches DataLoader workers
        # (persistent ones included), which hold their own copies of this object.
        self._epoch = torch.zeros(1, dtype=torch.int64)
        with contextlib.suppress(RuntimeError):  # no shared memory: fine without workers or non-persistent ones
            self._epoch.share_memory_()
        # Cut-out pasting only makes sense for a binary foreground/background set.
        self.paste_class = 1 if (self.backgrounds and len(ds.classes) == 2) else None
        # Training never needs more pixels than the largest scale of an image fitted to S.
        self._max_side = math.ceil(max(self.augment.scale) * self.image_size)
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    @property
    def epoch(self) -> int:
        """The epoch the trainer is in; with the seed and the index it determines the augmentation."""
        return int(self._epoch[0])

    @epoch.setter
    def epoch(self, value: int) -> None:
        self._epoch[0] = int(value)

    def __len__(self) -> int:
        return len(self.samples)

    def _decoded(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(image, mask) as this dataset uses them: shrunk for training, stretched image for evaluation."""
        hit = self._cache.get(index)
        if hit is not None:
            return hit
        image, mask = self.ds.load(self.samples[index])
        if self.train:
            image, mask = resize_max_side(image, mask, self._max_side)
        else:
            image = eval_resize(image, self.image_size)
        if self.cache:
            self._cache[index] = (image, mask)
        return image, mask

    def preload(self) -> None:
        """Decode every sample now (e.g. before forking DataLoader workers, so they share the cache)."""
        for i in range(len(self)):
            self._decoded(i)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self._decoded(index)
        if self.train:
            rng = np.random.default_rng([self.seed % 2**64, self.epoch, index])
            image, mask = augment(image, mask, self.image_size, self.augment, rng, self.backgrounds,
                                  self.paste_class, ignore=self.ds.ignore_index)
        return torch.from_numpy(normalize(image)), torch.from_numpy(mask.astype(np.int64))


def eval_collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Stack the (same-size) images and keep the original-size masks as a list."""
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]
