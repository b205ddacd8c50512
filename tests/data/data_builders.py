"""Builders of tiny dataset layouts for the data tests (palette PNGs written by hand, VOC, LFW, folders)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from segblur.data import voc_colormap

# ------------------------------------------------------------------------------------------- PNG writer

def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_row(row: list[int], prev: list[int], f: int) -> list[int]:
    out = []
    for i, x in enumerate(row):
        left = row[i - 1] if i else 0
        up = prev[i]
        upleft = prev[i - 1] if i else 0
        pred = [0, left, up, (left + up) // 2, _paeth(left, up, upleft)][f]
        out.append((x - pred) & 0xFF)
    return out


def write_png(path: Path, values: np.ndarray, palette: np.ndarray | None = None, filters: tuple[int, ...] = (0,),
              depth: int = 8) -> None:
    """An 8-bit palette (or grayscale when palette is None) PNG, rows filtered with the given types in turn."""
    h, w = values.shape
    color = 3 if palette is not None else 0
    raw, prev = bytearray(), [0] * w
    for y in range(h):
        row = [int(v) for v in values[y]]
        f = filters[y % len(filters)]
        raw += bytes([f] + _filter_row(row, prev, f))
        prev = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
    if palette is not None:
        png += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    png += chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------- builders

VOC_IDS = ["2007_000032", "2007_000033", "2008_000001"]


def voc_mask(seed: int, h: int = 30, w: int = 40) -> np.ndarray:
    """Classes in blocks with a 255 boundary around each block, as VOC draws object outlines."""
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    for _ in range(3):
        c = int(rng.choice([1, 7, 15, 20]))
        y, x = int(rng.integers(0, h - 10)), int(rng.integers(0, w - 10))
        m[y:y + 10, x:x + 10] = 255
        m[y + 1:y + 9, x + 1:x + 9] = c
    return m


def make_voc(root: Path) -> dict[str, np.ndarray]:
    """VOCdevkit/VOC2012 with three samples, splits train (2) / val (1) / trainval; returns id -> mask."""
    voc = root / "VOCdevkit" / "VOC2012"
    masks = {}
    for i, sid in enumerate(VOC_IDS):
        write_rgb(voc / "JPEGImages" / f"{sid}.jpg", photo(30, 40, i))
        masks[sid] = voc_mask(i)
        write_png(voc / "SegmentationClass" / f"{sid}.png", masks[sid], voc_colormap(256), filters=(0, 1, 2, 3, 4))
    sets = voc / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("\n".join(VOC_IDS[:2]) + "\n")
    (sets / "val.txt").write_text(VOC_IDS[2] + "\n")
    (sets / "trainval.txt").write_text("\n".join(VOC_IDS) + "\n")
    return masks


LFW_IDS = {"train": ["Aaron_Peirsol_0002", "AJ_Cook_0001"], "validation": ["Aaron_Peirsol_0001"],
           "test": ["Abdoulaye_Wade_0004"]}


def lfw_mask(seed: int, size: int = 24) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[6:20, 6:18] = 1
    m[2:8, 4:20] = 2
    m[seed % 5, :] = 2
    return m


def make_lfw_a(root: Path) -> dict[str, np.ndarray]:
    masks = {}
    for split, ids in LFW_IDS.items():
        for i, sid in enumerate(ids):
            write_rgb(root / "images" / f"{sid}.jpg", photo(24, 24, i))
            masks[sid] = lfw_mask(len(masks))
            (root / "masks").mkdir(exist_ok=True)
            assert cv2.imwrite(str(root / "masks" / f"{sid}.png"), masks[sid])
        (root / "splits").mkdir(exist_ok=True)
        (root / "splits" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return masks


LFW_COLOURS = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], np.uint8)  # RGB: background blue, skin, hair red


def make_lfw_b(root: Path) -> dict[str, np.ndarray]:
    """The original distribution: .ppm colour masks, lfw_funneled/<Name>/, parts_*.txt in both line styles."""
    masks = {}
    for split, ids in LFW_IDS.items():
        lines = []
        for i, sid in enumerate(ids):
            name, number = sid.rsplit("_", 1)
            write_rgb(root / "lfw_funneled" / name / f"{sid}.jpg", photo(24, 24, i))
            masks[sid] = lfw_mask(len(masks))
            write_rgb(root / "parts_lfw_funneled_gt_images" / f"{sid}.ppm", LFW_COLOURS[masks[sid]])
            lines.append(f"{name} {int(number)}" if i % 2 == 0 else sid)
        (root / f"parts_{split}.txt").write_text("\n".join(lines) + "\n")
    return masks


def make_folder(root: Path, classes: list[str] | None = None, splits: bool = True) -> dict[str, np.ndarray]:
    """images/{a.png,b.jpg,c.bmp} with 0/255 masks, splits train (a, b) / val (c), optional classes.txt."""
    masks = {}
    for i, (stem, ext) in enumerate([("a", ".png"), ("b", ".jpg"), ("c", ".bmp")]):
        write_rgb(root / "images" / f"{stem}{ext}", photo(20, 28, i))
        m = np.zeros((20, 28), np.uint8)
        m[3:15, 5 + i:20] = 255
        masks[stem] = m
        (root / "masks").mkdir(exist_ok=True)
        cv2.imwrite(str(root / "masks" / f"{stem}.png"), m)
    if splits:
        (root / "splits").mkdir()
        (root / "splits" / "train.txt").write_text("a\nb.jpg\n\n")
        (root / "splits" / "val.txt").write_text("# validation\nc\n")
    if classes is not None:
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return masks
