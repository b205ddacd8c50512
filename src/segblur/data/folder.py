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


HOLDOUT_EVERY = 10  # without split lists, every 10th image (sorted by name) validates and the rest trains


class FolderDataset(SegDataset):
    """``images/*`` + ``masks/<stem>.png``, optional ``splits/<name>.txt`` and ``classes.txt``.

    Without split lists, ``all`` is every image (what ``evaluate`` scores), and training holds out a
    deterministic validation part: ``val`` is every :data:`HOLDOUT_EVERY`-th image by name and ``train``
    the rest (so a run never validates on the images it trains on); :attr:`notes` says so.
    """

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
        self.notes: list[str] = []

    def _image_index(self) -> dict[str, Path]:
        if self._images is None:
            self._images = image_index(self.root / "images")
        return self._images

    def _split_files(self) -> dict[str, Path]:
        folder = self.root / "splits"
        found = {p.stem: p for p in folder.glob("*.txt")} if folder.is_dir() else {}
        if not found:  # the held-out parts: train and val come from the images folder too
            found = {"train": self.root / "images", "val": self.root / "images"}
        found.setdefault("all", self.root / "images")
        return found

    def _held_out(self) -> bool:
        return self._split_files().get("train") == self.root / "images"

    def _split_ids(self, split: str, where: Path) -> list[str]:
        if where.is_dir():
            ids = list(self._image_index())
            if split == "all" or len(ids) < 2:
                return ids
            val = ids[::HOLDOUT_EVERY]
            note = (f"{self.root}: no split lists (splits/*.txt): validating on every {HOLDOUT_EVERY}th image "
                    f"({len(val)} of {len(ids)}) and training on the rest")
            if note not in self.notes:
                self.notes.append(note)
            held = set(val)
            return val if split == "val" else [i for i in ids if i not in held]
        ids = []
        for line in read_list(where):
            p = Path(line)
            ids.append(p.stem if p.suffix.lower() in READ_SUFFIXES else line)
        return list(dict.fromkeys(ids))

    def _role_candidates(self) -> dict[str, list[str]]:
        if self._held_out():  # evaluate scores every image; training holds out its validation part
            return {"train": ["train"], "val": ["val"], "test": ["all"]}
        return {"train": ["train", "all"], "val": ["val", "validation", "test", "all"],
                "test": ["test", "val", "validation", "all"]}

    def _paths(self, sid: str) -> tuple[Path | None, Path]:
        return self._image_index().get(sid), self.root / "masks" / f"{sid}.png"

    def _image_hint(self, sid: str) -> Path:
        return self.root / "images" / f"{sid}.*"

    def _read_mask(self, path: Path) -> np.ndarray:
        mask = single_channel(read_mask_file(path), path)
        return binary_from_0_255(mask) if len(self.classes) == 2 else mask
