"""Pascal VOC 2012: JPEGImages/, SegmentationClass/ (palette PNGs read as indices), ImageSets/Segmentation/*.txt."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .base import DatasetError, SegDataset
from .masks import read_mask_file

VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor"]


def voc_colormap(n: int = 256) -> np.ndarray:
    """The standard Pascal VOC palette (n x 3 RGB uint8), index i -> colour of class i."""
    cmap = np.zeros((n, 3), np.uint8)
    for i in range(n):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        cmap[i] = (r, g, b)
    return cmap


def colours_to_ids(rgb: np.ndarray, palette: np.ndarray, path: Path) -> np.ndarray:
    """Map RGB colours back to palette indices; an unknown colour is an error."""
    code = lambda a: (a[..., 0].astype(np.int64) << 16) | (a[..., 1].astype(np.int64) << 8) | a[..., 2]  # noqa: E731
    keys = code(palette)
    order = np.argsort(keys)
    flat = code(rgb).ravel()
    pos = np.clip(np.searchsorted(keys[order], flat), 0, len(keys) - 1)
    idx = order[pos]
    bad = keys[idx] != flat
    if bad.any():
        r, g, b = rgb.reshape(-1, 3)[int(np.argmax(bad))]
        raise DatasetError(f"{path}: colour ({r}, {g}, {b}) is not in the VOC palette")
    return idx.astype(np.uint8).reshape(rgb.shape[:2])


class VocDataset(SegDataset):
    """Pascal VOC 2012: JPEGImages/, SegmentationClass/ (palette PNGs), ImageSets/Segmentation/*.txt."""

    kind = "voc"

    def __init__(self, root: Path) -> None:
        super().__init__(root, list(VOC_CLASSES), ["person"])
        self._palette = voc_colormap(256)

    @staticmethod
    def locate(path: Path) -> Path | None:
        """The VOC2012 folder at or under ``path`` (which may be VOC2012, VOCdevkit or the folder holding it)."""
        for cand in (path, path / "VOC2012", path / "VOCdevkit" / "VOC2012"):
            if (cand / "JPEGImages").is_dir() and (cand / "SegmentationClass").is_dir():
                return cand
        return None

    def _split_files(self) -> dict[str, Path]:
        folder = self.root / "ImageSets" / "Segmentation"
        return {p.stem: p for p in folder.glob("*.txt")} if folder.is_dir() else {}

    def _role_candidates(self) -> dict[str, list[str]]:
        return {"train": ["train", "trainval"], "val": ["val"], "test": ["val", "test"]}

    def _paths(self, sid: str) -> tuple[Path | None, Path]:
        return self.root / "JPEGImages" / f"{sid}.jpg", self.root / "SegmentationClass" / f"{sid}.png"

    def _read_mask(self, path: Path) -> np.ndarray:
        raw = read_mask_file(path)
        return raw if raw.ndim == 2 else colours_to_ids(raw, self._palette, path)
