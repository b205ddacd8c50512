"""Halo-free compositing: the foreground stays sharp, and its colours never bleed into the background.

Two pieces. :func:`weighted_downscale` premultiplies the frame by the background weight
(1 - alpha) before any neighbourhood filter, so a blur of the background only averages
background pixels (the normalised convolution Google Meet describes); a small floor weight keeps
the result defined deep inside the foreground, where the alpha hides it anyway.
:func:`composite` then blends ``alpha * frame + (1 - alpha) * background`` in one fused OpenCV call.
"""

from __future__ import annotations

import cv2
import numpy as np

from .resize import downscale, halve
from .workspace import Workspace, scratch

# Weight every pixel keeps, so the normalised filter never divides by zero deep inside the foreground
# (where alpha hides the result anyway). Small enough that a block or kernel that is 99 % foreground
# still takes under 1 % of its colour from the foreground.
FLOOR = 1e-4


def weighted_downscale(frame: np.ndarray, alpha: np.ndarray, size: tuple[int, int],
                       ws: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Background-premultiplied frame and background weight at ``size`` = (w, h): float32 HxWx3, HxW.

    The premultiplication happens at most one 2x step below full resolution (a leak of under one
    pixel), so it costs a quarter of a full-resolution pass.
    """
    if frame.shape[1] >= 4 * size[0] and frame.shape[0] >= 4 * size[1]:
        frame, alpha = halve(frame, ws, "wd.frame"), halve(alpha, ws, "wd.alpha")
    prem, w = background_premultiplied(frame, alpha, ws)
    return downscale(prem, size, ws, "wd.prem_s"), downscale(w, size, ws, "wd.w_s")


def background_premultiplied(frame: np.ndarray, alpha: np.ndarray, ws: Workspace | None = None,
                             ) -> tuple[np.ndarray, np.ndarray]:
    """Full-resolution ``frame * w`` (float32 HxWx3) and ``w = max(1 - alpha, FLOOR)`` (HxW)."""
    h, w_ = alpha.shape[:2]
    w = np.subtract(1.0, alpha, out=scratch(ws, "bp.w", (h, w_)), dtype=np.float32)
    np.maximum(w, FLOOR, out=w)
    prem = np.multiply(frame, w[..., None], out=scratch(ws, "bp.prem", (h, w_, 3)), dtype=np.float32)
    return prem, w


def unpremultiply(prem: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Premultiplied colour / weight -> uint8 colour."""
    out = prem / np.maximum(weight, 1e-6)[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def composite(frame: np.ndarray, background: np.ndarray, alpha: np.ndarray,
              ws: Workspace | None = None) -> np.ndarray:
    """``alpha * frame + (1 - alpha) * background`` for uint8 RGB images and an HxW float alpha.

    The result is always a new array (callers may keep frames); only scratch space is reused.
    """
    H, W = frame.shape[:2]
    a = alpha.astype(np.float32, copy=False)
    if background.shape[:2] != (H, W):
        background = cv2.resize(background, (W, H), dst=scratch(ws, "compose.bg", (H, W, 3), np.uint8),
                                interpolation=cv2.INTER_LINEAR)
    inv = np.subtract(1.0, a, out=scratch(ws, "compose.inv", (H, W)), dtype=np.float32)
    return cv2.blendLinear(frame, background, a, inv)
