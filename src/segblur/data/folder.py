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


HOLDOUT_EVERY = 10  # without a validation list, every 10th training image (sorted by name) validates instead


class FolderDataset(SegDataset):
    """``images/*`` + ``masks/<stem>.png``, optional ``splits/<name>.txt`` and ``classes.txt``.

    A run never validates on the images it trains on, nor on a test list: without a ``val`` (or ``validation``)
    list, ``val`` is every :data:`HOLDOUT_EVERY`-th image of the training part by name and ``train`` the rest;
    without a ``train`` list the training part is every image no split list names. ``all`` is every image (what
    ``evaluate`` scores when there are no lists). :attr:`notes` says which of these applied.
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
        self._split_lists: dict[str, Path] | None = None
        self.notes: list[str] = []

    def _image_index(self) -> dict[str, Path]:
        if self._images is None:
            self._images = image_index(self.root / "images")
        return self._images

    def _lists(self) -> dict[str, Path]:
        """The split lists (``splits/<name>.txt``) by name, read once: every split and role question asks."""
        if self._split_lists is None:
            folder = self.root / "splits"
            self._split_lists = {p.stem: p for p in sorted(folder.glob("*.txt"))} if folder.is_dir() else {}
        return dict(self._split_lists)

    def _split_files(self) -> dict[str, Path]:
        images = self.root / "images"
        found = self._lists()
        found.setdefault("train", images)  # no train list: the images no list names (all of them without lists)
        if "val" not in found and "validation" not in found:
            found["val"] = found["train"]  # held out of the training part, never the test list
            found["train-all"] = found["train"]  # the whole training part, for a run validating on another split
        found.setdefault("all", images)
        return found

    def _held_out(self) -> bool:
        """Whether validation is held out of the training part (there is no val or validation list)."""
        lists = self._lists()
        return "val" not in lists and "validation" not in lists

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def _list_ids(self, where: Path) -> list[str]:
        ids = []
        for line in read_list(where):
            p = Path(line)
            ids.append(p.stem if p.suffix.lower() in READ_SUFFIXES else line)
        return list(dict.fromkeys(ids))

    def _training_ids(self) -> list[str]:
        """The training part before any hold-out: the train list, or every image no split list names."""
        where = self._split_files()["train"]
        if not where.is_dir():
            return self._list_ids(where)
        lists = self._lists()
        named = {i for f in lists.values() for i in self._list_ids(f)}
        ids = [i for i in self._image_index() if i not in named]
        if lists and not ids:
            raise DatasetError(f"{self.root}: no splits/train.txt, and every image is in a list "
                               f"({', '.join(sorted(lists))}); add splits/train.txt or choose --train-split")
        if lists:
            self._note(f"{self.root}: no splits/train.txt: training on the {len(ids)} images that no split list "
                       f"names ({', '.join(sorted(lists))})")
        return ids

    def _split_ids(self, split: str, where: Path) -> list[str]:
        if split in ("train", "val") and self._held_out():
            ids = self._training_ids()
            if len(ids) < 2:
                return ids
            val = ids[::HOLDOUT_EVERY]
            if self._lists():
                what = "the training list" if not self._split_files()["train"].is_dir() else "those"
                self._note(f"{self.root}: no splits/val.txt: validating on every {HOLDOUT_EVERY}th image of {what} "
                           f"({len(val)} of {len(ids)}) and training on the rest")
            else:
                self._note(f"{self.root}: no split lists (splits/*.txt): validating on every {HOLDOUT_EVERY}th "
                           f"image ({len(val)} of {len(ids)}) and training on the rest")
            held = set(val)
            return val if split == "val" else [i for i in ids if i not in held]
        if split in ("train", "train-all"):
            return self._training_ids()
        if where.is_dir():
            return list(self._image_index())
        return self._list_ids(where)

    def training_split(self, val_split: str) -> str:
        """``train`` (without the held-out part) while validating on the held-out ``val``; ``train-all`` otherwise
        (``--val-split test``): nothing is held out of training that is not validated on."""
        return "train-all" if self._held_out() and val_split != "val" else self.default_split("train")

    def _role_candidates(self) -> dict[str, list[str]]:
        if not self._lists():  # evaluate scores every image; training holds out its validation part
            return {"train": ["train"], "val": ["val"], "test": ["all"]}
        test = ["test"] + ([] if self._held_out() else ["val", "validation"]) + ["all"]
        return {"train": ["train"], "val": ["val", "validation"], "test": test}

    def _paths(self, sid: str) -> tuple[Path | None, Path]:
        return self._image_index().get(sid), self.root / "masks" / f"{sid}.png"

    def _image_hint(self, sid: str) -> Path:
        return self.root / "images" / f"{sid}.*"

    def _read_mask(self, path: Path) -> np.ndarray:
        mask = single_channel(read_mask_file(path), path)
        return binary_from_0_255(mask) if len(self.classes) == 2 else mask
