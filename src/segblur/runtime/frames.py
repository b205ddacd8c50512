"""Frames as the runtime takes them: any common image array -> contiguous HxWx3 RGB uint8.

A leaf: numpy and OpenCV only, nothing else of segblur, so the runtime and media both import it without a cycle
(``segblur.runtime`` loads its other modules on first use, so importing this one does not load ONNX Runtime).
"""

from __future__ import annotations

import cv2
import numpy as np


def as_rgb(image: np.ndarray) -> np.ndarray:
    """Grayscale (HxW or HxWx1), RGB or RGBA -> contiguous HxWx3 RGB uint8.

    uint8 is taken as is, uint16 keeps its high byte, a float image whose maximum is <= 1 is
    scaled from 0..1 (NaN -> 0), any other dtype is clipped to 0..255.
    """
    a = np.asarray(image)
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype != np.uint8:
        a = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if np.issubdtype(image.dtype, np.floating) and a.size and a.max() <= 1.0:
            a = a * 255.0
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 1):
        return cv2.cvtColor(a.reshape(a.shape[:2]), cv2.COLOR_GRAY2RGB)
    if a.ndim == 3 and a.shape[2] == 4:
        return cv2.cvtColor(a, cv2.COLOR_RGBA2RGB)
    if a.ndim == 3 and a.shape[2] == 3:
        return np.ascontiguousarray(a)
    raise ValueError(f"expected an HxW, HxWx3 or HxWx4 image, got shape {a.shape}")
