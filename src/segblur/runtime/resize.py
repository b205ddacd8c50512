"""Fast anti-aliased downscaling.

OpenCV's ``INTER_AREA`` is fast for exact 2x reductions but slow for arbitrary factors (about
3 ms for 1280x720 -> 192x192 on one core). Halving with ``INTER_AREA`` while the image is at
least twice the target, then one short resize, gives the same box-filtered result in a tenth
of the time.
"""

from __future__ import annotations

import cv2
import numpy as np

from .workspace import Workspace, scratch


def halve(img: np.ndarray, ws: Workspace | None = None, name: str = "halve") -> np.ndarray:
    """Exact 2x box downscale (odd trailing row/column dropped)."""
    h, w = img.shape[:2]
    dst = scratch(ws, name, (h // 2, w // 2) + img.shape[2:], img.dtype.type)
    return cv2.resize(img, (w // 2, h // 2), dst=dst, interpolation=cv2.INTER_AREA)


def downscale(img: np.ndarray, size: tuple[int, int], ws: Workspace | None = None, name: str = "down") -> np.ndarray:
    """Resize to ``size`` = (width, height): box-filtered when shrinking, bilinear when growing."""
    tw, th = size
    level = 0
    while img.shape[1] >= 2 * tw and img.shape[0] >= 2 * th:
        img = halve(img, ws, f"{name}.{level}")
        level += 1
    h, w = img.shape[:2]
    if (w, h) == (tw, th):
        return img
    interp = cv2.INTER_AREA if w > tw and h > th else cv2.INTER_LINEAR
    return cv2.resize(img, (tw, th), dst=scratch(ws, name, (th, tw) + img.shape[2:], img.dtype.type),
                      interpolation=interp)
