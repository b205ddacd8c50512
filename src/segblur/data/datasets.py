"""Segmentation datasets on disk: Pascal VOC 2012, LFW Part Labels and plain image/mask folders.

Torch-free (numpy + OpenCV), so ``evaluate`` can score ONNX models on them and the training side
can wrap them. Every problem is a :class:`DatasetError` whose one-line message names the file.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..io import read_ids
from ..media.images import READ_SUFFIXES, ImageError, read_image

DATASET_KINDS = ("voc", "lfw", "folder")
IMAGE_SUFFIXES = READ_SUFFIXES  # what segblur reads everywhere

VOC_CLASSES = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor"]
LFW_CLASSES = ["background", "skin", "hair"]


class DatasetError(ValueError):
    """One-line message naming the file/folder and the problem."""


@dataclass(frozen=True)
class Sample:
    """One image and its class-id mask (every dataset kind sets ``mask``; :meth:`SegDataset.load` refuses None)."""

    id: str
    image: Path
    mask: Path | None


# ---------------------------------------------------------------------------------------------- mask decoding

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


def _paeth_row(line: np.ndarray, prev: np.ndarray, average: bool) -> np.ndarray:
    """Undo the Average or Paeth filter of one 1-byte-per-pixel scanline (inherently sequential)."""
    raw, up = line.tolist(), prev.tolist()
    out = [0] * len(raw)
    left = upleft = 0
    for i, x in enumerate(raw):
        b = up[i]
        if average:
            v = (x + ((left + b) >> 1)) & 0xFF
        else:
            p = left + b - upleft
            pa, pb, pc = abs(p - left), abs(p - b), abs(p - upleft)
            pred = left if pa <= pb and pa <= pc else (b if pb <= pc else upleft)
            v = (x + pred) & 0xFF
        out[i] = v
        left, upleft = v, b
    return np.array(out, np.uint8)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None


def read_png_indices(path: Path) -> np.ndarray | None:
    """The raw 8-bit values of a palette or grayscale PNG (palette INDICES, not colours), else None.

    OpenCV expands palette PNGs to BGR, which loses the class index; this decodes the PNG with zlib.
    Returns None for PNGs of other colour types and for other formats.
    """
    return _png_indices(_read_bytes(path), path)


def _png_indices(data: bytes, path: Path) -> np.ndarray | None:
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    pos, header, idat = 8, None, []
    while pos + 8 <= len(data):
        length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if len(chunk) < length:
            raise DatasetError(f"{path}: truncated PNG file")
        if ctype == b"IHDR" and length >= 13:
            header = struct.unpack(">IIBBBBB", chunk[:13])
        elif ctype == b"IDAT":
            idat.append(chunk)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    if header is None:
        raise DatasetError(f"{path}: corrupt PNG file (no IHDR header)")
    w, h, depth, color, _, _, interlace = header
    if color not in (0, 3):
        return None
    if depth != 8 or interlace:
        kind = "palette" if color == 3 else "grayscale"
        raise DatasetError(f"{path}: unsupported {kind} PNG (bit depth {depth}, interlace {interlace}); "
                           "masks must be 8-bit, non-interlaced")
    try:
        raw = zlib.decompress(b"".join(idat))
    except zlib.error as e:
        raise DatasetError(f"{path}: corrupt PNG file ({e})") from None
    stride = w + 1
    if len(raw) < h * stride:
        raise DatasetError(f"{path}: truncated PNG file")
    rows = np.frombuffer(raw, np.uint8, h * stride).reshape(h, stride)
    ftypes, lines = rows[:, 0], rows[:, 1:]
    if not ftypes.any():
        return lines.copy()
    out = np.empty((h, w), np.uint8)
    prev = np.zeros(w, np.uint8)
    for y in range(h):
        f, line = int(ftypes[y]), lines[y]
        if f == 0:
            cur = line
        elif f == 1:
            cur = np.cumsum(line, dtype=np.uint8)  # wraps modulo 256, as PNG arithmetic does
        elif f == 2:
            cur = line + prev
        elif f in (3, 4):
            cur = _paeth_row(line, prev, average=f == 3)
        else:
            raise DatasetError(f"{path}: corrupt PNG file (filter type {f} in row {y})")
        out[y] = cur
        prev = out[y]
    return out


def _read_raw(path: Path) -> np.ndarray:
    """A mask file as stored: HxW (palette indices for palette PNGs) or HxWxC in RGB order."""
    data = _read_bytes(path)
    if data.startswith(b"\x89PNG\r\n\x1a\n") and (len(data) < 26 or data[25] == 3):
        values = _png_indices(data, path)  # palette PNG (OpenCV decodes the rest faster, and exactly)
        if values is not None:
            return values
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if img is None:
        raise DatasetError(f"{path}: cannot decode mask" + ("" if data else " (empty file)"))
    if img.dtype != np.uint8:
        raise DatasetError(f"{path}: mask is {img.dtype}, expected 8-bit class ids")
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    return img


def _single_channel(raw: np.ndarray, path: Path) -> np.ndarray:
    """HxW from a mask; a 3-channel mask is accepted only when it is gray (all channels equal)."""
    if raw.ndim == 2:
        return raw
    if (raw[..., 0] == raw[..., 1]).all() and (raw[..., 0] == raw[..., 2]).all():
        return np.ascontiguousarray(raw[..., 0])
    raise DatasetError(f"{path}: colour mask ({raw.shape[2]} channels); masks must hold class ids in one channel")


def _colours_to_ids(rgb: np.ndarray, palette: np.ndarray, path: Path) -> np.ndarray:
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


# ---------------------------------------------------------------------------------------------- datasets

def _read_list(path: Path) -> list[str]:
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
        return _read_list(where)

    def _role_candidates(self) -> dict[str, list[str]]:
        raise NotImplementedError

    def _paths(self, sid: str) -> tuple[Path | None, Path]:
        """(image, mask) paths for an id; image None when no file of any image type exists."""
        raise NotImplementedError

    def _image_hint(self, sid: str) -> Path:
        return self.root / sid

    def _read_mask(self, path: Path) -> np.ndarray:
        return _single_channel(_read_raw(path), path)


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
        raw = _read_raw(path)
        return raw if raw.ndim == 2 else _colours_to_ids(raw, self._palette, path)


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
        for line in _read_list(where):
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
        raw = _read_raw(path)
        if path.suffix.lower() != ".ppm":
            return _single_channel(raw, path)
        if raw.ndim != 3:
            raise DatasetError(f"{path}: expected a colour-coded .ppm mask (red hair, green skin, blue background)")
        # Class = the strongest channel: blue -> 0 background, green -> 1 skin, red -> 2 hair (ties: background).
        return np.argmax(raw[..., ::-1], axis=2).astype(np.uint8)


class FolderDataset(SegDataset):
    """``images/*`` + ``masks/<stem>.png``, optional ``splits/<name>.txt`` and ``classes.txt``."""

    kind = "folder"

    def __init__(self, root: Path) -> None:
        classes = ["background", "foreground"]
        cfile = root / "classes.txt"
        if cfile.is_file():
            classes = _read_list(cfile)
            if len(classes) < 2:
                raise DatasetError(f"{cfile}: needs at least 2 class names, one per line (found {len(classes)})")
            if len(classes) > 255:
                raise DatasetError(f"{cfile}: at most 255 classes (255 is the ignore value), found {len(classes)}")
        super().__init__(root, classes, classes[1:])
        self._images: dict[str, Path] | None = None

    def _image_index(self) -> dict[str, Path]:
        if self._images is None:
            index: dict[str, Path] = {}
            for p in sorted((self.root / "images").iterdir()):
                if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") and p.is_file():
                    index.setdefault(p.stem, p)
            self._images = index
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
        for line in _read_list(where):
            p = Path(line)
            ids.append(p.stem if p.suffix.lower() in IMAGE_SUFFIXES else line)
        return list(dict.fromkeys(ids))

    def _role_candidates(self) -> dict[str, list[str]]:
        return {"train": ["train", "all"], "val": ["val", "validation", "test", "all"],
                "test": ["test", "val", "validation", "all"]}

    def _paths(self, sid: str) -> tuple[Path | None, Path]:
        return self._image_index().get(sid), self.root / "masks" / f"{sid}.png"

    def _image_hint(self, sid: str) -> Path:
        return self.root / "images" / f"{sid}.*"

    def _read_mask(self, path: Path) -> np.ndarray:
        mask = _single_channel(_read_raw(path), path)
        if len(self.classes) == 2 and mask.max(initial=0) == 255:
            values = np.unique(mask)
            if np.isin(values, (0, 255)).all():  # a 0/255 binary mask
                return (mask // 255).astype(np.uint8)
        return mask


def open_dataset(spec: str) -> SegDataset:
    """Open ``"voc:PATH"``, ``"lfw:PATH"`` or ``"folder:PATH"``; DatasetError on a bad spec or layout."""
    kind, sep, rest = spec.partition(":")
    if not sep or kind not in DATASET_KINDS:
        raise DatasetError(f"{spec}: bad dataset spec (expected KIND:PATH with KIND one of {', '.join(DATASET_KINDS)})")
    if not rest:
        raise DatasetError(f"{spec}: bad dataset spec (no path after '{kind}:')")
    path = Path(rest).expanduser()
    if not path.exists():
        raise DatasetError(f"{path}: no such folder")
    if not path.is_dir():
        raise DatasetError(f"{path}: not a folder")
    if kind == "voc":
        root = VocDataset.locate(path)
        if root is None:
            raise DatasetError(f"{path}: not a Pascal VOC 2012 folder (expected JPEGImages/ and SegmentationClass/ "
                               "in it, in VOC2012/ or in VOCdevkit/VOC2012/)")
        return VocDataset(root)
    if kind == "lfw":
        original = LfwDataset.detect(path)
        if original is None:
            raise DatasetError(f"{path}: not an LFW Part Labels folder (expected images/ + masks/, or "
                               "parts_lfw_funneled_gt_images/ + lfw_funneled/)")
        return LfwDataset(path, original)
    if not (path / "images").is_dir():
        raise DatasetError(f"{path}: not an image folder dataset (expected images/ and masks/ in it)")
    if not (path / "masks").is_dir():
        raise DatasetError(f"{path / 'masks'}: no masks folder (a folder dataset needs masks/<stem>.png, class ids, "
                           "for every image)")
    return FolderDataset(path)
