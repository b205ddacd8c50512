"""Binary person-segmentation data: the Shen portraits, the Vikram scenes, and cut-out compositing.

Images are decoded once and kept in memory at a reduced size (training crops are small), so an
epoch costs only augmentation and the network. Augmentation pastes person cut-outs onto
people-free backgrounds or onto other photos (the union of both masks is the target), then takes a
random crop of random aspect ratio, stretched to a square, as the runtime stretches any frame.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ...media.images import READ_SUFFIXES, ImageError, read_image


def load_pair(img_path: Path, mask_path: Path, max_side: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """RGB uint8 image and 0/1 uint8 mask, optionally downscaled so the long side is ``max_side``."""
    img = cv2.imread(str(img_path), cv2.IMREAD_COLOR)
    mask = cv2.imread(str(mask_path), cv2.IMREAD_GRAYSCALE)
    if img is None or mask is None:
        raise ValueError(f"{img_path}: cannot read image or mask")
    img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if mask.shape != img.shape[:2]:
        raise ValueError(f"{mask_path}: mask size {mask.shape[::-1]} differs from image {img.shape[1::-1]}")
    if max_side and max(img.shape[:2]) > max_side:
        s = max_side / max(img.shape[:2])
        size = (max(1, round(img.shape[1] * s)), max(1, round(img.shape[0] * s)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        mask = cv2.resize(mask, size, interpolation=cv2.INTER_LINEAR)
    return img, (mask > 127).astype(np.uint8)




def load_backgrounds(root: Path, max_side: int = 512) -> list[np.ndarray]:
    """People-free RGB photos used as paste targets: ``root/images/*`` when that folder exists, else ``root/*``.

    ValueError (one line naming the file or folder) for a missing or empty folder or an unreadable image.
    """
    root = Path(root)
    folder = root / "images" if (root / "images").is_dir() else root
    if not folder.is_dir():
        raise ValueError(f"{root}: no such folder of background images")
    paths = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in READ_SUFFIXES and not p.name.startswith(".") and p.is_file())
    if not paths:
        raise ValueError(f"{root}: no background images found ({', '.join(READ_SUFFIXES)})")
    out = []
    for p in paths:
        try:
            img = read_image(p)
        except ImageError as e:
            raise ValueError(f"{e} (background image)") from None
        s = max_side / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        out.append(img)
    return out


@dataclass
class AugmentConfig:
    """Probabilities and ranges of the training augmentation."""

    size: int = 192
    p_background: float = 0.3   # paste the person onto a people-free photo
    p_copy_paste: float = 0.15  # paste the person onto another training photo
    min_area: float = 0.35      # random crop: fraction of the image area kept
    max_aspect: float = 2.0     # random crop: aspect ratio in [1/max_aspect, max_aspect]
    p_gray: float = 0.08
    p_blur: float = 0.15
    p_noise: float = 0.2


class PersonAugment:
    """Random composite -> random crop (any aspect, stretched to square) -> flip -> photometric."""

    def __init__(self, pairs: list[tuple[np.ndarray, np.ndarray]], backgrounds: list[np.ndarray],
                 cfg: AugmentConfig) -> None:
        self.pairs = pairs
        self.backgrounds = backgrounds
        self.cfg = cfg

    def __call__(self, img: np.ndarray, mask: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
        c = self.cfg
        r = rng.random()
        if r < c.p_background and self.backgrounds:
            bg = self.backgrounds[rng.randrange(len(self.backgrounds))]
            img, mask = self._paste(img, mask, bg, np.zeros(bg.shape[:2], np.uint8), rng)
        elif r < c.p_background + c.p_copy_paste and len(self.pairs) > 1:
            bimg, bmask = self.pairs[rng.randrange(len(self.pairs))]
            img, mask = self._paste(img, mask, bimg, bmask, rng)
        img, mask = self._crop(img, mask, rng)
        if rng.random() < 0.5:
            img, mask = img[:, ::-1], mask[:, ::-1]
        img = self._photometric(np.ascontiguousarray(img), rng)
        return img, np.ascontiguousarray(mask)

    def _paste(self, fg: np.ndarray, fmask: np.ndarray, bg: np.ndarray, bmask: np.ndarray,
               rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
        """Scale the cut-out to 45-100 % of the background height, bottom-anchored at random x."""
        bh, bw = bg.shape[:2]
        # Crop the background to a random aspect ratio first, so portrait cut-outs meet landscape scenes.
        aspect = math.exp(rng.uniform(math.log(0.6), math.log(1.8)))
        ch = min(bh, int(bw / aspect))
        cw = min(bw, int(ch * aspect))
        y0, x0 = rng.randint(0, bh - ch), rng.randint(0, bw - cw)
        canvas = bg[y0:y0 + ch, x0:x0 + cw].astype(np.float32)
        cmask = bmask[y0:y0 + ch, x0:x0 + cw].copy()
        scale = rng.uniform(0.45, 1.0) * ch / fg.shape[0]
        fw, fh = max(2, int(fg.shape[1] * scale)), max(2, int(fg.shape[0] * scale))
        fgs = cv2.resize(fg, (fw, fh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        alpha = cv2.resize(fmask.astype(np.float32), (fw, fh), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.GaussianBlur(alpha, (0, 0), rng.uniform(0.5, 1.5))  # no razor-cut edge to learn from
        px = rng.randint(min(0, cw - fw), max(0, cw - fw))
        py = ch - fh + (rng.randint(0, fh // 4) if rng.random() < 0.5 else 0)  # sometimes cut off below
        # Intersect the pasted rectangle with the canvas.
        sx0, sy0 = max(0, -px), max(0, -py)
        dx0, dy0 = max(0, px), max(0, py)
        w = min(fw - sx0, cw - dx0)
        h = min(fh - sy0, ch - dy0)
        if w > 0 and h > 0:
            a = alpha[sy0:sy0 + h, sx0:sx0 + w, None]
            region = canvas[dy0:dy0 + h, dx0:dx0 + w]
            region[:] = a * fgs[sy0:sy0 + h, sx0:sx0 + w] + (1 - a) * region
            m = cmask[dy0:dy0 + h, dx0:dx0 + w]
            m[:] = np.maximum(m, (a[..., 0] > 0.5).astype(np.uint8))
        return canvas.astype(np.uint8), cmask

    def _crop(self, img: np.ndarray, mask: np.ndarray, rng: random.Random) -> tuple[np.ndarray, np.ndarray]:
        h, w = img.shape[:2]
        c = self.cfg
        for _ in range(10):
            area = rng.uniform(c.min_area, 1.0) * h * w
            aspect = math.exp(rng.uniform(-math.log(c.max_aspect), math.log(c.max_aspect)))
            cw, ch = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if 0 < cw <= w and 0 < ch <= h:
                break
        else:
            cw, ch = w, h
        x0, y0 = rng.randint(0, w - cw), rng.randint(0, h - ch)
        s = c.size
        interp = cv2.INTER_AREA if cw > s else cv2.INTER_LINEAR
        img = cv2.resize(img[y0:y0 + ch, x0:x0 + cw], (s, s), interpolation=interp)
        m = cv2.resize(mask[y0:y0 + ch, x0:x0 + cw].astype(np.float32), (s, s), interpolation=cv2.INTER_LINEAR)
        return img, (m > 0.5).astype(np.uint8)

    def _photometric(self, img: np.ndarray, rng: random.Random) -> np.ndarray:
        c = self.cfg
        hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 0] = (hsv[..., 0] + rng.uniform(-8, 8)) % 180
        hsv[..., 1] *= rng.uniform(0.6, 1.4)
        img = cv2.cvtColor(np.clip(hsv, 0, 255).astype(np.uint8), cv2.COLOR_HSV2RGB).astype(np.float32)
        img = (img - 128) * rng.uniform(0.7, 1.3) + 128 + rng.uniform(-40, 40)
        img = 255 * (np.clip(img, 0, 255) / 255) ** rng.uniform(0.7, 1.4)
        if rng.random() < c.p_gray:
            img[:] = img.mean(2, keepdims=True)
        if rng.random() < c.p_blur:
            img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
        if rng.random() < c.p_noise:
            img = img + np.random.default_rng(rng.randrange(2**31)).normal(0, rng.uniform(2, 10), img.shape)
        return np.clip(img, 0, 255).astype(np.uint8)
