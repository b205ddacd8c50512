"""What every dataset kind shares: the one error type, a sample, split lookup and the load-and-check of a pair.

Torch-free (numpy + OpenCV), so ``evaluate`` can score ONNX models on any kind and the training side can wrap them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import read_ids
from ..media.images import ImageError, read_image


class DatasetError(ValueError):
    """One-line message naming the file/folder and the problem."""


@dataclass(frozen=True)
class Sample:
    """One image and its class-id mask (every dataset kind sets ``mask``; :meth:`SegDataset.load` refuses None).

    ``source`` names the part of a mixed dataset the sample comes from (its sampling weight is per source).
    """

    id: str
    image: Path
    mask: Path | None
    source: str = ""


def read_list(path: Path) -> list[str]:
    """:func:`segblur.io.read_ids`, with a DatasetError naming the file when it cannot be read."""
    try:
        return read_ids(path)
    except (OSError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path}: cannot read ({getattr(e, 'strerror', None) or e})") from None


class SegDataset:
    """A segmentation dataset on disk: split names, samples per split, and decoding of image + class-id mask."""

    kind: str = ""
    ignore_index: int = 255

    def __init__(self, root: Path, classes: list[str], foreground: list[str]) -> None:
        self.root = root
        self.classes = classes
        self.foreground = foreground

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.kind}:{self.root}, {len(self.classes)} classes)"

    def splits(self) -> list[str]:
        """Available split names."""
        return sorted(self._split_files())

    def default_split(self, role: str) -> str:
        """The split used for ``role`` ("train", "val" or "test") in this dataset."""
        if role not in ("train", "val", "test"):
            raise ValueError(f"unknown split role {role!r} (expected train, val or test)")
        names = self.splits()
        for name in self._role_candidates()[role]:
            if name in names:
                return name
        raise DatasetError(f"{self.root}: no {role} split (available: {', '.join(names) or 'none'})")

    def training_split(self, val_split: str) -> str:
        """The split to train on while validating on ``val_split`` (``train --val-split``): the train split."""
        return self.default_split("train")

    def weights(self, split: str) -> dict[str, float]:
        """Sampling weight per :attr:`Sample.source` of ``split`` (draws of each image per epoch); {} = all 1."""
        return {}

    def samples(self, split: str) -> list[Sample]:
        """The samples of ``split``; DatasetError for an unknown or empty split or a missing image/mask."""
        files = self._split_files()
        if split not in files:
            names = ", ".join(sorted(files)) or "none"
            raise DatasetError(f"{self.root}: unknown split {split!r} (available: {names})")
        where = files[split]
        ids = self._split_ids(split, where)
        if not ids:
            raise DatasetError(f"{where}: split {split!r} is empty")
        out, missing = [], []
        for sid in ids:
            image, mask = self._paths(sid)
            if image is None or not image.is_file():
                missing.append(f"{image or self._image_hint(sid)}: no image for id {sid!r} listed in {where}")
            elif not mask.is_file():
                missing.append(f"{mask}: no mask for image {image}")
            else:
                out.append(Sample(sid, image, mask))
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise DatasetError(missing[0] + more)
        return out

    def load(self, sample: Sample) -> tuple[np.ndarray, np.ndarray]:
        """(RGB uint8 HxWx3, uint8 HxW class ids with ``ignore_index`` where unlabeled) for ``sample``.

        A sample without a mask is an error, not an all-ignore mask: training on it gives a NaN loss and scoring it
        an empty table.
        """
        if sample.mask is None:
            raise DatasetError(f"{sample.image}: no mask for this image (segmentation needs a labeled mask)")
        try:
            image = read_image(sample.image)
        except ImageError as e:
            raise DatasetError(str(e)) from None
        mask = self._read_mask(sample.mask)
        if mask.shape != image.shape[:2]:
            raise DatasetError(f"{sample.mask}: mask size {mask.shape[1]}x{mask.shape[0]} differs from image "
                               f"{sample.image.name} {image.shape[1]}x{image.shape[0]}")
        n = len(self.classes)
        bad = (mask >= n) & (mask != self.ignore_index)
        if bad.any():
            values = np.unique(mask[bad])
            shown = ", ".join(str(v) for v in values[:5]) + (", ..." if len(values) > 5 else "")
            raise DatasetError(f"{sample.mask}: mask values {shown} outside the {n} classes (0..{n - 1}, "
                               f"{self.ignore_index} = ignore)")
        return image, mask

    # Subclass hooks ------------------------------------------------------------------------------------
    def _split_files(self) -> dict[str, Path]:
        """Split name -> the file (or folder) that defines it."""
        raise NotImplementedError

    def _split_ids(self, split: str, where: Path) -> list[str]:
        return read_list(where)

    def _role_candidates(self) -> dict[str, list[str]]:
        raise NotImplementedError

    def _paths(self, sid: str) -> tuple[Path | None, Path]:
        """(image, mask) paths for an id; image None when no file of any image type exists."""
        raise NotImplementedError

    def _image_hint(self, sid: str) -> Path:
        return self.root / sid

    def _read_mask(self, path: Path) -> np.ndarray:
        """The mask file as HxW uint8 class ids (this kind's encoding undone)."""
        raise NotImplementedError
