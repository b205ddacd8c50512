"""Plain image/mask folders: ``images/*`` + ``masks/<stem>.png``, optional ``splits/<name>.txt`` and ``classes.txt``."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..media.images import READ_SUFFIXES
from .base import DatasetError, SegDataset, read_list
from .masks import binary_from_0_255, read_mask_file, single_channel


def image_index(folder: Path) -> dict[str, Path]:
    """Stem -> image file of every readable image in ``folder`` (sorted; the first suffix wins a tie)."""
    index: dict[str, Path] = {}
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in READ_SUFFIXES and not p.name.startswith(".") and p.is_file():
            index.setdefault(p.stem, p)
    return index


class FolderDataset(SegDataset):
    """``images/*`` + ``masks/<stem>.png``, optional ``splits/<name>.txt`` and ``classes.txt``."""

    kind = "folder"

    def __init__(self, root: Path) -> None:
        classes = ["background", "foreground"]
        cfile = root / "classes.txt"
        if cfile.is_file():
            classes = read_list(cfile)
            if len(classes) < 2:
                raise DatasetError(f"{cfile}: needs at least 2 class names, one per line (found {len(classes)})")
            if len(classes) > 255:
                raise DatasetError(f"{cfile}: at most 255 classes (255 is the ignore value), found {len(classes)}")
        super().__init__(root, classes, classes[1:])
        self._images: dict[str, Path] | None = None

    def _image_index(self) -> dict[str, Path]:
        if self._images is None:
            self._images = image_index(self.root / "images")
        return self._images

    def _split_files(self) -> dict[str, Path]:
        folder = self.root / "splits"
        found = {p.stem: p for p in folder.glob("*.txt")} if folder.is_dir() else {}
        found.setdefault("all", self.root / "images")
        return found

    def _split_ids(self, split: str, where: Path) -> list[str]:
        if where.is_dir():
            return list(self._image_index())
        ids = []
        for line in read_list(where):
            p = Path(line)
            ids.append(p.stem if p.suffix.lower() in READ_SUFFIXES else line)
        return list(dict.fromkeys(ids))

    def _role_candidates(self) -> dict[str, list[str]]:
        return {"train": ["train", "all"], "val": ["val", "validation", "test", "all"],
                "test": ["test", "val", "validation", "all"]}

    def _paths(self, sid: str) -> tuple[Path | None, Path]:
        return self._image_index().get(sid), self.root / "masks" / f"{sid}.png"

    def _image_hint(self, sid: str) -> Path:
        return self.root / "images" / f"{sid}.*"

    def _read_mask(self, path: Path) -> np.ndarray:
        mask = single_channel(read_mask_file(path), path)
        return binary_from_0_255(mask) if len(self.classes) == 2 else mask
