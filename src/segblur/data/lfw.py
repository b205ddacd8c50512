"""LFW Part Labels: ``images/ masks/ splits/`` (class-id PNGs) or the original UMass .ppm distribution."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .base import DatasetError, SegDataset, read_list
from .masks import read_mask_file, single_channel

LFW_CLASSES = ["background", "skin", "hair"]
_LFW_LINE = re.compile(r"^(\S+?)(?:\s+(\d+))?$")


class LfwDataset(SegDataset):
    """LFW Part Labels: ``images/ masks/ splits/`` (class-id PNGs) or the original .ppm distribution."""

    kind = "lfw"

    def __init__(self, root: Path, original: bool) -> None:
        super().__init__(root, list(LFW_CLASSES), ["skin", "hair"])
        self.original = original

    @staticmethod
    def detect(path: Path) -> bool | None:
        """True for the original layout, False for images/masks/splits, None when neither."""
        if (path / "images").is_dir() and (path / "masks").is_dir():
            return False
        if (path / "parts_lfw_funneled_gt_images").is_dir() and (path / "lfw_funneled").is_dir():
            return True
        return None

    def _split_files(self) -> dict[str, Path]:
        if not self.original:
            folder = self.root / "splits"
            found: dict[str, Path] = {p.stem: p for p in folder.glob("*.txt")} if folder.is_dir() else {}
            return found or {"all": self.root / "masks"}  # no split lists: everything labeled is one split
        found = {}
        for folder in (self.root, self.root / "utils"):
            for p in sorted(folder.glob("parts_*.txt")):
                found.setdefault(p.stem[len("parts_"):], p)
        if not found:  # no official lists: everything labeled is one split
            found["all"] = self.root / "parts_lfw_funneled_gt_images"
        return found

    def _split_ids(self, split: str, where: Path) -> list[str]:
        if where.is_dir():
            return sorted(p.stem for p in where.glob("*.ppm" if self.original else "*.png"))
        ids = []
        for line in read_list(where):
            m = _LFW_LINE.match(line)
            if m is None:
                raise DatasetError(f"{where}: bad line {line!r} (expected 'Name_0001' or 'Name 1')")
            name, number = m.groups()
            ids.append(f"{name}_{int(number):04d}" if number else name)
        return list(dict.fromkeys(ids))

    def _role_candidates(self) -> dict[str, list[str]]:
        return {"train": ["train", "all"], "val": ["validation", "val", "all"], "test": ["test", "all"]}

    def _paths(self, sid: str) -> tuple[Path | None, Path]:
        if not self.original:
            return self.root / "images" / f"{sid}.jpg", self.root / "masks" / f"{sid}.png"
        name = sid.rsplit("_", 1)[0]
        return (self.root / "lfw_funneled" / name / f"{sid}.jpg",
                self.root / "parts_lfw_funneled_gt_images" / f"{sid}.ppm")

    def _read_mask(self, path: Path) -> np.ndarray:
        raw = read_mask_file(path)
        if path.suffix.lower() != ".ppm":
            return single_channel(raw, path)
        if raw.ndim != 3:
            raise DatasetError(f"{path}: expected a colour-coded .ppm mask (red hair, green skin, blue background)")
        # Class = the strongest channel: blue -> 0 background, green -> 1 skin, red -> 2 hair (ties: background).
        return np.argmax(raw[..., ::-1], axis=2).astype(np.uint8)
