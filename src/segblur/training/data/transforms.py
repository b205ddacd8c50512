"""Training augmentation and evaluation resizing for (image, class-id mask) pairs, in numpy/OpenCV.

Every random choice comes from the numpy ``Generator`` passed in, so a (seed, epoch, index) triple
reproduces a sample exactly. Geometry (scale, rotation, crop, flip) is applied to image and mask
together; the mask is resampled with nearest neighbour and padded with the ignore value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)
IGNORE = 255


@dataclass(frozen=True)
class AugmentOptions:
    """Ranges of the training augmentation; ``scale`` is relative to the size that fits the image in SxS."""

    scale: tuple[float, float] = (0.5, 2.0)
    flip: bool = True
    jitter: float = 0.25       # brightness/contrast/saturation factors in [1-j, 1+j], hue +-j/10 of the circle
    rotate: float = 0.0        # degrees, uniform in [-rotate, rotate]
    paste_prob: float = 0.0    # binary person sets: paste the foreground onto a random background photo


def default_augment(kind: str) -> AugmentOptions:
    """Per dataset kind defaults: aligned LFW faces get gentler scale and a small rotation."""
    if kind == "lfw":
        return AugmentOptions(scale=(0.8, 1.25), rotate=10.0)
    if kind == "folder":
        return AugmentOptions(scale=(0.5, 2.0), rotate=5.0, paste_prob=0.3)
    return AugmentOptions()


def resize_max_side(image: np.ndarray, mask: np.ndarray | None, max_side: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Shrink so the long side is at most ``max_side`` (image INTER_AREA, mask nearest); larger ones only."""
    h, w = image.shape[:2]
    if max(h, w) <= max_side:
        return image, mask
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    if mask is not None:
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_NEAREST_EXACT)
    return image, mask


def scale_rotate_crop(image: np.ndarray, mask: np.ndarray, size: int, scale: float, angle: float,
                      rng: np.random.Generator, fill: tuple[float, ...] = MEAN,
                      ignore: int = IGNORE) -> tuple[np.ndarray, np.ndarray]:
    """Scale by ``scale`` x (factor fitting the image in size x size), rotate by ``angle`` degrees about the
    centre, then take a random size x size window; outside the image the image is ``fill`` and the mask ``ignore``.
    """
    h, w = image.shape[:2]
    s = scale * size / max(h, w)
    if s < 1:  # shrink with area averaging first, so the warp below does not alias
        w, h = max(1, round(w * s)), max(1, round(h * s))
        image = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
        s = 1.0
    a = math.radians(angle)
    ca, sa = math.cos(a), math.sin(a)
    A = np.array([[ca * s, sa * s], [-sa * s, ca * s]])
    # Bounding box of the scaled, rotated image; its centre is where the image centre goes.
    bw = abs(w * s * ca) + abs(h * s * sa)
    bh = abs(w * s * sa) + abs(h * s * ca)
    # A random window of that box, or (when the box is smaller) a random placement of the box in the window.
    x0 = rng.uniform(0, bw - size) if bw > size else -rng.uniform(0, size - bw)
    y0 = rng.uniform(0, bh - size) if bh > size else -rng.uniform(0, size - bh)
    t = np.array([bw / 2 - round(x0), bh / 2 - round(y0)]) - A @ np.array([w / 2, h / 2])
    M = np.hstack([A, t[:, None]])
    border = tuple(float(v) for v in fill[:3])
    out = cv2.warpAffine(image, M, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=border)
    out_mask = cv2.warpAffine(mask, M, (size, size), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                              borderValue=ignore)
    return out, out_mask


def color_jitter(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Light random brightness, contrast, saturation and hue change of an RGB uint8 image."""
    if strength <= 0:
        return image
    j = strength
    b, c, s = (rng.uniform(1 - j, 1 + j) for _ in range(3))
    hue = rng.uniform(-j, j) * 18.0  # OpenCV hue runs 0..180, so j/10 of the circle
    img = image.astype(np.float32) * b
    gray = img @ np.float32([0.299, 0.587, 0.114])
    img = (img - gray.mean()) * c + gray.mean()
    gray = img @ np.float32([0.299, 0.587, 0.114])
    img = (img - gray[..., None]) * s + gray[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)
    if hue:
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV)
        hsv[..., 0] = ((hsv[..., 0].astype(np.float32) + hue) % 180).astype(np.uint8)
        img = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return img


def paste_on_background(image: np.ndarray, mask: np.ndarray, background: np.ndarray, rng: np.random.Generator,
                        fg_class: int = 1) -> np.ndarray:
    """Composite the ``fg_class`` cut-out onto a random crop of ``background`` (soft edge); the mask is unchanged."""
    h, w = image.shape[:2]
    bh, bw = background.shape[:2]
    s = max(h / bh, w / bw) * rng.uniform(1.0, 1.5)  # cover the image, with some random zoom
    nw, nh = max(w, math.ceil(bw * s)), max(h, math.ceil(bh * s))
    bg = cv2.resize(background, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    y0, x0 = int(rng.integers(0, nh - h + 1)), int(rng.integers(0, nw - w + 1))
    bg = bg[y0:y0 + h, x0:x0 + w]
    if rng.random() < 0.5:
        bg = bg[:, ::-1]
    alpha = (mask == fg_class).astype(np.float32)
    alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.2))[..., None]  # no razor-cut edge to learn
    return (alpha * image + (1 - alpha) * bg).astype(np.uint8)


def augment(image: np.ndarray, mask: np.ndarray, size: int, opts: AugmentOptions, rng: np.random.Generator,
            backgrounds: list[np.ndarray] | None = None, paste_class: int | None = None,
            ignore: int = IGNORE) -> tuple[np.ndarray, np.ndarray]:
    """One random training view: (optional paste) -> scale/rotate/crop to size x size -> flip -> colour jitter."""
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


def eval_resize(image: np.ndarray, size: int) -> np.ndarray:
    """Stretch to size x size as the runtime stretches frames (area averaging down, linear up)."""
    h, w = image.shape[:2]
    interp = cv2.INTER_AREA if h * w > size * size else cv2.INTER_LINEAR
    return cv2.resize(image, (size, size), interpolation=interp)


def normalize(image: np.ndarray, mean: tuple[float, ...] = MEAN, std: tuple[float, ...] = STD) -> np.ndarray:
    """RGB uint8 HxWx3 -> float32 3xHxW, (x - mean) / std in 0-255 units."""
    out = (image.astype(np.float32) - np.float32(mean)) / np.float32(std)
    return np.ascontiguousarray(out.transpose(2, 0, 1))
