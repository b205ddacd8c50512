"""Prediction masks as files: what ``segblur evaluate --predictions`` reads and ``--predictions-out`` writes.

A prediction is ``<id>.png`` holding dataset class ids in one channel; for two-class sets 0/255 (like
``segblur mask``) is accepted and written, so masks from other tools and from ``segblur mask`` can be scored.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..data import DatasetError, read_png_indices
from ..media.images import ImageError


def read_prediction(path: Path, num_classes: int) -> np.ndarray:
    """A predicted mask file -> HxW uint8 class ids; 0/255 masks count as 0/1 for two classes.

    Raises :class:`ImageError` naming the file when it is missing, unreadable, coloured or out of range.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"{p}: no such file")
    try:
        values = read_png_indices(p) if p.suffix.lower() == ".png" else None
    except DatasetError as e:
        raise ImageError(str(e)) from None
    if values is None:
        img = cv2.imdecode(np.fromfile(str(p), np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None or img.dtype != np.uint8:
            raise ImageError(f"{p}: cannot decode as an 8-bit mask")
        if img.ndim == 3:
            if not all((img[..., 0] == img[..., k]).all() for k in range(1, min(img.shape[2], 3))):
                raise ImageError(f"{p}: colour image; a prediction must hold class ids in one channel")
            img = img[..., 0]
        values = img
    values = np.ascontiguousarray(values)
    if num_classes == 2 and values.max(initial=0) == 255 and np.isin(np.unique(values), (0, 255)).all():
        return (values // 255).astype(np.uint8)
    if values.max(initial=0) >= num_classes:
        bad = np.unique(values[values >= num_classes])[:5].tolist()
        raise ImageError(f"{p}: values {bad} are not class ids 0..{num_classes - 1}")
    return values


def prediction_image(ids: np.ndarray, num_classes: int) -> np.ndarray:
    """Class ids as a prediction file holds them: 0/255 for two-class sets (like ``segblur mask``), else the ids."""
    return ids * np.uint8(255) if num_classes == 2 else ids
