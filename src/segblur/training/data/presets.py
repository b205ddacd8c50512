"""Training and evaluation presets per dataset kind (in the style of torchvision's segmentation references).

A preset is the one place that says which transforms of :mod:`.transforms` run, in which order and with which
ranges, and how images are normalised:

- ``voc``, ``lfw``, ``folder``: (paste a binary cut-out onto a background photo) -> random scale, rotation and
  crop -> flip -> colour jitter; ImageNet mean/std.
- ``person``: paste the person onto a people-free photo (30 %) or onto another training photo (15 %, the target is
  both people) -> a random crop of random aspect stretched to the square input, as the runtime stretches frames (or,
  for ``resize: keep``, a crop of the batch's view shape, people at their own proportions) -> flip -> camera-like
  photometric changes; mean = std = 127.5 (the person-fast recipe).

Evaluation stretches the whole image to the input size (:func:`.transforms.eval_resize`) for every kind, or keeps its
aspect ratio at as many pixels for ``resize: keep``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .transforms import (
    IGNORE,
    MEAN,
    STD,
    color_jitter,
    paste_cutout,
    paste_on_background,
    photometric,
    random_aspect_crop,
    random_shape_crop,
    scale_rotate_crop,
)

HALF = (127.5, 127.5, 127.5)  # (pixel - 127.5) / 127.5: the person models' normalisation

Pairs = Sequence[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class AugmentOptions:
    """Ranges of the generic preset; ``scale`` is relative to the size that fits the image in SxS."""

    scale: tuple[float, float] = (0.5, 2.0)
    flip: bool = True
    jitter: float = 0.25       # brightness/contrast/saturation factors in [1-j, 1+j], hue +-j/10 of the circle
    rotate: float = 0.0        # degrees, uniform in [-rotate, rotate]
    paste_prob: float = 0.0    # binary sets: paste the foreground onto a random background photo


@dataclass(frozen=True)
class PersonAugmentOptions:
    """Probabilities and ranges of the person preset."""

    p_background: float = 0.3   # paste the person onto a people-free photo
    p_copy_paste: float = 0.15  # paste the person onto another training photo
    paste_scale: tuple[float, float] = (0.45, 1.0)  # a pasted person's height, fraction of the photo's
    min_area: float = 0.35      # random crop: fraction of the image area kept
    max_aspect: float = 2.0     # random crop: aspect ratio in [1/max_aspect, max_aspect]
    p_gray: float = 0.08
    p_blur: float = 0.15
    p_noise: float = 0.2


def default_augment(kind: str) -> AugmentOptions | PersonAugmentOptions:
    """Per dataset kind defaults: aligned LFW faces get gentler scale and a small rotation; person its own preset."""
    if kind == "person":
        return PersonAugmentOptions()
    if kind == "lfw":
        return AugmentOptions(scale=(0.8, 1.25), rotate=10.0)
    if kind == "folder":
        return AugmentOptions(scale=(0.5, 2.0), rotate=5.0, paste_prob=0.3)
    return AugmentOptions()


def augment_options(kind: str, changes: Mapping[str, Any] | None = None) -> AugmentOptions | PersonAugmentOptions:
    """The kind's default options with ``changes`` (a recipe's ``augment:``, e.g. ``{paste_scale: [0.25, 1]}``);
    an unknown name or a value of the wrong shape is a ValueError naming the choices."""
    base = default_augment(kind)
    if not changes:
        return base
    fields = {f.name: f for f in dataclasses.fields(base)}
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in fields:
            raise ValueError(f"augment: {key!r} is not an option of the {kind} preset ({', '.join(fields)})")
        default = getattr(base, key)
        if isinstance(default, tuple):
            if not (isinstance(value, (list, tuple)) and len(value) == len(default)
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
                    and list(value) == sorted(value)):
                raise ValueError(f"augment: {key} must be {len(default)} increasing numbers, got {value!r}")
            value = tuple(float(v) for v in value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ValueError(f"augment: {key} must be bool, got {value!r}")
        else:  # a float: an int will do
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"augment: {key} must be float, got {value!r}")
            value = float(value)
        out[key] = value
    opts = dataclasses.replace(base, **out)
    for key, value in out.items():
        rule = _RANGES.get("p_" if key.startswith("p_") else key)
        if rule is None:  # flip: any bool
            continue
        low, high, above, what = rule
        for v in value if isinstance(value, tuple) else (value,):
            ok = (v > low if above else v >= low) and (high is None or v <= high)  # NaN is never ok
            if not ok or not math.isfinite(v):  # .inf passed the range, then overflowed in the first batch
                raise ValueError(f"augment: {key} must be {what} and finite, got {value!r}")
    return opts


# What each option's values may be: (lowest, highest or None, lowest excluded, in words).
_RANGES: dict[str, tuple[float, float | None, bool, str]] = {
    "p_": (0.0, 1.0, False, "a probability in 0..1"), "paste_prob": (0.0, 1.0, False, "a probability in 0..1"),
    "min_area": (0.0, 1.0, True, "above 0 and at most 1"), "max_aspect": (1.0, None, False, "at least 1"),
    "scale": (0.0, None, True, "above 0"), "paste_scale": (0.0, None, True, "above 0"),
    "jitter": (0.0, None, False, "at least 0"), "rotate": (0.0, None, False, "at least 0"),
}


def normalization(kind: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (mean, std) a dataset kind's models are trained with, in 0-255 units."""
    return (HALF, HALF) if kind == "person" else (MEAN, STD)


def augment(image: np.ndarray, mask: np.ndarray, size: int, opts: AugmentOptions, rng: np.random.Generator,
            backgrounds: list[np.ndarray] | None = None, paste_class: int | None = None,
            ignore: int = IGNORE) -> tuple[np.ndarray, np.ndarray]:
    """One random view of the generic preset: (paste) -> scale/rotate/crop to size x size -> flip -> colour jitter."""
    if backgrounds and paste_class is not None and opts.paste_prob > 0 and rng.random() < opts.paste_prob:
        bg = backgrounds[int(rng.integers(len(backgrounds)))]
        image = paste_on_background(image, mask, bg, rng, paste_class)
    lo, hi = opts.scale
    scale = math.exp(rng.uniform(math.log(lo), math.log(hi))) if hi > lo else lo
    angle = rng.uniform(-opts.rotate, opts.rotate) if opts.rotate > 0 else 0.0
    image, mask = scale_rotate_crop(image, mask, size, scale, angle, rng, ignore=ignore)
    if opts.flip and rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    image = color_jitter(np.ascontiguousarray(image), opts.jitter, rng)
    return image, np.ascontiguousarray(mask)


def augment_person(image: np.ndarray, mask: np.ndarray, size: int | tuple[int, int], opts: PersonAugmentOptions,
                   rng: np.random.Generator, backgrounds: list[np.ndarray] | None = None, others: Pairs | None = None,
                   ignore: int = IGNORE) -> tuple[np.ndarray, np.ndarray]:
    """One random view of the person preset: (paste onto a background or another photo) -> random-aspect crop
    stretched to size x size, or for ``size`` = (h, w) a crop of that aspect (``resize: keep``) -> flip ->
    photometric. ``mask`` holds 0 / 1 / ``ignore``."""
    r = rng.random()
    if r < opts.p_background and backgrounds:
        bg = backgrounds[int(rng.integers(len(backgrounds)))]
        image, mask = paste_cutout(image, mask, bg, np.zeros(bg.shape[:2], np.uint8), rng, scale=opts.paste_scale)
    elif r < opts.p_background + opts.p_copy_paste and others is not None and len(others) > 1:
        other_image, other_mask = others[int(rng.integers(len(others)))]
        image, mask = paste_cutout(image, mask, other_image, other_mask, rng, scale=opts.paste_scale)
    if isinstance(size, tuple):
        image, mask = random_shape_crop(image, mask, size, opts.min_area, rng, ignore)
    else:
        image, mask = random_aspect_crop(image, mask, size, opts.min_area, opts.max_aspect, rng, ignore)
    if rng.random() < 0.5:
        image, mask = image[:, ::-1], mask[:, ::-1]
    image = photometric(np.ascontiguousarray(image), rng, opts.p_gray, opts.p_blur, opts.p_noise)
    return image, np.ascontiguousarray(mask)


class TrainPreset:
    """``preset(image, mask, rng, others, shape)`` -> one random size x size training view for a dataset kind, or
    ``shape`` = (h, w) for the person preset's ``resize: keep`` views (``max_shape_side``: their longest side).

    ``others`` (the training pairs) feeds the person preset's copy-paste; ``max_side`` is the largest image side any
    view can use, so decoded images are cached no larger.
    """

    def __init__(self, size: int, options: AugmentOptions | PersonAugmentOptions, *,
                 backgrounds: list[np.ndarray] | None = None, paste_class: int | None = None,
                 ignore: int = IGNORE, max_shape_side: int | None = None) -> None:
        self.size, self.options, self.backgrounds = int(size), options, backgrounds or None
        self.paste_class, self.ignore = paste_class, ignore
        if isinstance(options, PersonAugmentOptions):  # the smallest crop, stretched to S (or the longest side)
            self.max_side = math.ceil(max(self.size, max_shape_side or 0) / math.sqrt(options.min_area))
        else:  # the largest scale of an image fitted to S
            self.max_side = math.ceil(max(options.scale) * self.size)

    def __call__(self, image: np.ndarray, mask: np.ndarray, rng: np.random.Generator,
                 others: Pairs | None = None, shape: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self.options, PersonAugmentOptions):
            return augment_person(image, mask, shape or self.size, self.options, rng, self.backgrounds, others,
                                  self.ignore)
        if shape is not None:
            raise ValueError("views of a kept aspect ratio (resize: keep) are made for person data only")
        return augment(image, mask, self.size, self.options, rng, self.backgrounds, self.paste_class, self.ignore)


def train_preset(kind: str, size: int, num_classes: int, *,
                 options: AugmentOptions | PersonAugmentOptions | None = None,
                 backgrounds: list[np.ndarray] | None = None, ignore: int = IGNORE,
                 max_shape_side: int | None = None) -> TrainPreset:
    """The training preset of a dataset kind. Cut-outs are pasted onto ``backgrounds`` only for two-class sets."""
    options = options if options is not None else default_augment(kind)
    paste_class = 1 if (backgrounds and num_classes == 2) else None
    return TrainPreset(size, options, backgrounds=backgrounds if paste_class else None, paste_class=paste_class,
                       ignore=ignore, max_shape_side=max_shape_side)
