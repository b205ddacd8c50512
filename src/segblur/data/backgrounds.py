"""People-free photos to paste person cut-outs onto (``segblur train --backgrounds DIR``)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..media.images import READ_SUFFIXES, ImageError, read_image
from .base import DatasetError


def load_backgrounds(root: Path | str, max_side: int = 512) -> list[np.ndarray]:
    """RGB photos of ``root/images/*`` when that folder exists, else ``root/*``, shrunk to ``max_side`` at most.

    DatasetError (one line naming the file or folder) for a missing or empty folder or an unreadable image.
    """
    root = Path(root)
    folder = root / "images" if (root / "images").is_dir() else root
    if not folder.is_dir():
        raise DatasetError(f"{root}: no such folder of background images")
    paths = sorted(p for p in folder.iterdir()
                   if p.suffix.lower() in READ_SUFFIXES and not p.name.startswith(".") and p.is_file())
    if not paths:
        raise DatasetError(f"{root}: no background images found ({', '.join(READ_SUFFIXES)})")
    out = []
    for p in paths:
        try:
            img = read_image(p)
        except ImageError as e:
            raise DatasetError(f"{e} (background image)") from None
        s = max_side / max(img.shape[:2])
        if s < 1:
            img = cv2.resize(img, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        out.append(img)
    return out
