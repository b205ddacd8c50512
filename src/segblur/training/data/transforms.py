"""The transforms of training augmentation and evaluation resizing for (image, class-id mask) pairs, numpy/OpenCV.

Every random choice comes from the numpy ``Generator`` passed in, so a (seed, epoch, index) triple
reproduces a sample exactly. Geometry (scale, rotation, crop, flip) is applied to image and mask
together; class masks are resampled with nearest neighbour and padded with the ignore value, binary
person masks (0 / 1 / ignore) with a smoother linear-then-threshold. :mod:`.presets` composes them.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from ...runtime.resize import kept_size

MEAN = (123.675, 116.28, 103.53)  # ImageNet, 0-255 units
STD = (58.395, 57.12, 57.375)
IGNORE = 255


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


def _resize_binary(mask: np.ndarray, size: tuple[int, int], ignore: int = IGNORE) -> np.ndarray:
    """A 0 / 1 / ``ignore`` mask resized to ``size`` (w, h): each label linearly, then the majority (> 0.5) wins."""
    person = cv2.resize((mask == 1).astype(np.float32), size, interpolation=cv2.INTER_LINEAR) > 0.5
    out = person.astype(np.uint8)
    if (mask == ignore).any():
        out[cv2.resize((mask == ignore).astype(np.float32), size, interpolation=cv2.INTER_LINEAR) > 0.5] = ignore
    return out


def random_aspect_crop(image: np.ndarray, mask: np.ndarray, size: int, min_area: float, max_aspect: float,
                       rng: np.random.Generator, ignore: int = IGNORE) -> tuple[np.ndarray, np.ndarray]:
    """A random crop (``min_area``..1 of the area, aspect 1/``max_aspect``..``max_aspect``) stretched to size x size,
    as the runtime stretches any frame to the model's square input. ``mask`` is binary (0 / 1 / ``ignore``)."""
    h, w = image.shape[:2]
    for _ in range(10):
        area = rng.uniform(min_area, 1.0) * h * w
        aspect = math.exp(rng.uniform(-math.log(max_aspect), math.log(max_aspect)))
        cw, ch = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            break
    else:
        cw, ch = w, h
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    interp = cv2.INTER_AREA if cw > size else cv2.INTER_LINEAR
    out = cv2.resize(image[y0:y0 + ch, x0:x0 + cw], (size, size), interpolation=interp)
    return out, _resize_binary(mask[y0:y0 + ch, x0:x0 + cw], (size, size), ignore)


def random_shape_crop(image: np.ndarray, mask: np.ndarray, shape: tuple[int, int], min_area: float,
                      rng: np.random.Generator, ignore: int = IGNORE,
                      jitter: float = 1.15) -> tuple[np.ndarray, np.ndarray]:
    """A random crop of about ``shape``'s aspect (within x``jitter``) and ``min_area``..1 of the largest such crop,
    resized to ``shape`` = (h, w): the view a ``resize: keep`` model gets, people at their own proportions."""
    h, w = image.shape[:2]
    th, tw = shape
    aspect = tw / th * math.exp(rng.uniform(-math.log(jitter), math.log(jitter)))
    mw = min(w, h * aspect)
    mh = mw / aspect
    f = math.sqrt(rng.uniform(min_area, 1.0))
    cw, ch = max(1, min(w, int(round(mw * f)))), max(1, min(h, int(round(mh * f))))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    interp = cv2.INTER_AREA if cw > tw else cv2.INTER_LINEAR
    out = cv2.resize(image[y0:y0 + ch, x0:x0 + cw], (tw, th), interpolation=interp)
    return out, _resize_binary(mask[y0:y0 + ch, x0:x0 + cw], (tw, th), ignore)


def paste_cutout(image: np.ndarray, mask: np.ndarray, canvas: np.ndarray, canvas_mask: np.ndarray,
                 rng: np.random.Generator, fg_class: int = 1,
                 scale: tuple[float, float] = (0.45, 1.0)) -> tuple[np.ndarray, np.ndarray]:
    """Paste the ``fg_class`` cut-out of (image, mask) onto a random-aspect crop of ``canvas``; returns the composite
    and its mask: the canvas's labels (0 for a people-free photo, its own people for another photo) with the
    pasted person on top. The cut-out's height is ``scale`` (default 45-100 %) of the crop's, bottom-anchored at a
    random x (sometimes cut off below), with a feathered edge."""
    bh, bw = canvas.shape[:2]
    # Crop the canvas to a random aspect ratio first, so portrait cut-outs meet landscape scenes.
    aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.8)))
    ch = min(bh, int(bw / aspect))
    cw = min(bw, int(ch * aspect))
    y0, x0 = int(rng.integers(0, bh - ch + 1)), int(rng.integers(0, bw - cw + 1))
    out = canvas[y0:y0 + ch, x0:x0 + cw].astype(np.float32)
    out_mask = canvas_mask[y0:y0 + ch, x0:x0 + cw].copy()
    scale = rng.uniform(*scale) * ch / image.shape[0]
    fw, fh = max(2, int(image.shape[1] * scale)), max(2, int(image.shape[0] * scale))
    fg = cv2.resize(image, (fw, fh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    alpha = cv2.resize((mask == fg_class).astype(np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
    alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.5))  # no razor-cut edge to learn from
    px = int(rng.integers(min(0, cw - fw), max(0, cw - fw) + 1))
    py = ch - fh + (int(rng.integers(0, fh // 4 + 1)) if rng.random() < 0.5 else 0)
    sx0, sy0, dx0, dy0 = max(0, -px), max(0, -py), max(0, px), max(0, py)  # the pasted rectangle within the crop
    w, h = min(fw - sx0, cw - dx0), min(fh - sy0, ch - dy0)
    if w > 0 and h > 0:
        a = alpha[sy0:sy0 + h, sx0:sx0 + w, None]
        region = out[dy0:dy0 + h, dx0:dx0 + w]
        region[:] = a * fg[sy0:sy0 + h, sx0:sx0 + w] + (1 - a) * region
        out_mask[dy0:dy0 + h, dx0:dx0 + w][a[..., 0] > 0.5] = fg_class
    return out.astype(np.uint8), out_mask


def photometric(image: np.ndarray, rng: np.random.Generator, p_gray: float = 0.08, p_blur: float = 0.15,
                p_noise: float = 0.2) -> np.ndarray:
    """Camera-like changes of an RGB uint8 image: hue +-8/180 and saturation x0.6-1.4, contrast x0.7-1.3 and
    brightness +-40, gamma 0.7-1.4; then with these probabilities grey, a slight blur, sensor noise."""
    hsv = cv2.cvtColor(image, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
    hsv[..., 1] *= rng.uniform(0.6, 1.4)
    img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
    img = (img - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-40, 40)
    img = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.7, 1.4)
    if rng.random() < p_gray:
        img[:] = img.mean(2, keepdims=True)
    if rng.random() < p_blur:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < p_noise:
        img = img + rng.normal(0, rng.uniform(2, 10), img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def eval_resize(image: np.ndarray, size: int, resize: str = "stretch") -> np.ndarray:
    """The model input of a whole image, as the runtime makes it (area averaging down, linear up): stretched to
    size x size, or with ``resize="keep"`` at its aspect ratio (:func:`segblur.runtime.resize.kept_size`)."""
    h, w = image.shape[:2]
    th, tw = kept_size(h, w, (size, size)) if resize == "keep" else (size, size)
    interp = cv2.INTER_AREA if h * w > th * tw else cv2.INTER_LINEAR
    return cv2.resize(image, (tw, th), interpolation=interp)


def normalize(image: np.ndarray, mean: tuple[float, ...] = MEAN, std: tuple[float, ...] = STD) -> np.ndarray:
    """RGB uint8 HxWx3 -> float32 3xHxW, (x - mean) / std in 0-255 units."""
    out = (image.astype(np.float32) - np.float32(mean)) / np.float32(std)
    return np.ascontiguousarray(out.transpose(2, 0, 1))
