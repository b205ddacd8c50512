"""Torch view of a :class:`segblur.data.SegDataset`: augmented training views and stretched eval images.

Decoded images and masks are cached in memory (shrunk to the largest size the preset can use),
so an epoch costs only augmentation. The augmentation of item ``i`` depends only on
(seed, epoch, i), so runs are reproducible whatever the worker count.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import numpy as np
import torch

from segblur.data import SegDataset
from segblur.training.data.presets import AugmentOptions, PersonAugmentOptions, normalization, train_preset
from segblur.training.data.transforms import eval_resize, normalize, resize_max_side
from segblur.training.sampling import max_view_side

__all__ = ["SegTorchDataset", "eval_collate"]


class _Decoded(Sequence):
    """The dataset's decoded (image, mask) pairs, for the person preset's copy-paste onto another photo."""

    def __init__(self, owner: SegTorchDataset) -> None:
        self.owner = owner

    def __len__(self) -> int:
        return len(self.owner)

    def __getitem__(self, index):  # noqa: ANN001 - Sequence's signature
        return self.owner._decoded(index)


class SegTorchDataset(torch.utils.data.Dataset):
    """``train=True``: random (3xSxS float32, SxS int64 mask) views from the kind's training preset; a key
    ``(index, (h, w))`` (:class:`~segblur.training.sampling.ShapeBatches`) asks for an h x w view instead.

    ``train=False``: (3xSxS stretched image, or with ``resize="keep"`` at its own aspect ratio, HxW int64 mask at the
    original size). ``mean``/``std`` default to the kind's normalisation
    (:func:`~segblur.training.data.presets.normalization`).
    """

    def __init__(self, ds: SegDataset, split: str, train: bool, image_size: int, *, cache: bool = True,
                 augment: AugmentOptions | PersonAugmentOptions | None = None,
                 backgrounds: list[np.ndarray] | None = None, seed: int = 0,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 resize: str = "stretch") -> None:
        self.ds = ds
        self.split = split
        self.samples = ds.samples(split)
        self.train = train
        self.image_size = int(image_size)
        self.resize = resize
        self.cache = cache
        if resize == "keep" and ds.kind != "person":
            raise ValueError(f"resize: keep needs person data, not {ds.kind}")
        self.preset = train_preset(ds.kind, self.image_size, len(ds.classes), options=augment,
                                   backgrounds=backgrounds, ignore=ds.ignore_index,
                                   max_shape_side=max_view_side(self.image_size) if resize == "keep" else None)
        kind_mean, kind_std = normalization(ds.kind)
        self.mean = tuple(float(v) for v in (mean if mean is not None else kind_mean))
        self.std = tuple(float(v) for v in (std if std is not None else kind_std))
        self.seed = seed
        # The epoch lives in shared memory, so setting it in the main process reaches DataLoader workers
        # (persistent ones included), which hold their own copies of this object.
        self._epoch = torch.zeros(1, dtype=torch.int64)
        with contextlib.suppress(RuntimeError):  # no shared memory: fine without workers or non-persistent ones
            self._epoch.share_memory_()
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._pairs = _Decoded(self)

    @property
    def augment(self) -> AugmentOptions | PersonAugmentOptions:
        """The preset's options."""
        return self.preset.options

    @property
    def paste_class(self) -> int | None:
        """The class pasted onto background photos (None: no pasting)."""
        return self.preset.paste_class

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
            image, mask = resize_max_side(image, mask, self.preset.max_side)
        else:
            image = eval_resize(image, self.image_size, self.resize)
        if self.cache:
            self._cache[index] = (image, mask)
        return image, mask

    def preload(self) -> None:
        """Decode every sample now (e.g. before forking DataLoader workers, so they share the cache)."""
        for i in range(len(self)):
            self._decoded(i)

    def __getitem__(self, key: int | tuple[int, tuple[int, int]]) -> tuple[torch.Tensor, torch.Tensor]:
        index, shape = key if isinstance(key, tuple) else (key, None)
        image, mask = self._decoded(index)
        if self.train:
            rng = np.random.default_rng([self.seed % 2**64, self.epoch, index])
            image, mask = self.preset(image, mask, rng, self._pairs, shape)
        return torch.from_numpy(normalize(image, self.mean, self.std)), torch.from_numpy(mask.astype(np.int64))


def eval_collate(batch: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Stack the (same-size) images and keep the original-size masks as a list."""
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]
