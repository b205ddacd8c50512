"""Mask files as stored: palette PNGs as their palette INDICES (Pillow), everything else through OpenCV.

OpenCV expands a palette PNG to colours, which loses the class index; Pillow's mode "P" image is the indices.
Pillow is imported only for palette PNGs (the VOC masks), so the inference side never needs it.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

from ..io import one_line
from .base import DatasetError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PALETTE, GRAY = 3, 0  # PNG colour types


def read_bytes(path: Path) -> bytes:
    """The file's bytes; DatasetError naming it when it cannot be read."""
    try:
        return Path(path).read_bytes()
    except OSError as e:
        raise DatasetError(f"{path}: cannot read ({e.strerror or e})") from None


def _png_header(data: bytes, path: Path) -> tuple[int, int, int]:
    """(bit depth, colour type, interlace) from a PNG's IHDR chunk, which the PNG format puts first."""
    if len(data) < 29 or data[12:16] != b"IHDR":
        raise DatasetError(f"{path}: corrupt PNG file (no IHDR header)")
    return data[24], data[25], data[28]


def _palette_indices(data: bytes, path: Path) -> np.ndarray:
    try:
        from PIL import Image
    except ImportError:
        raise DatasetError(f"{path}: reading palette PNG masks needs Pillow (pip install pillow, or "
                           "'segblur[train]')") from None
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode != "P":
                raise DatasetError(f"{path}: corrupt PNG file (decoded as {im.mode}, not palette indices)")
            return np.asarray(im, dtype=np.uint8).copy()
    except DatasetError:
        raise
    except Exception as e:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, zlib.error ...
        raise DatasetError(f"{path}: corrupt PNG file ({one_line(e)})") from None


def png_indices(data: bytes, path: Path) -> np.ndarray | None:
    """The raw 8-bit values of palette or grayscale PNG bytes (indices, not colours); None for other PNG types."""
    depth, color, interlace = _png_header(data, path)
    if color not in (GRAY, PALETTE):
        return None
    if depth != 8 or interlace:
        kind = "palette" if color == PALETTE else "grayscale"
        raise DatasetError(f"{path}: unsupported {kind} PNG (bit depth {depth}, interlace {interlace}); "
                           "masks must be 8-bit, non-interlaced")
    if color == PALETTE:
        return _palette_indices(data, path)
    values = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)  # 8-bit grey: exact
    if values is None or values.ndim != 2:
        raise DatasetError(f"{path}: corrupt PNG file")
    return values


def read_png_indices(path: Path) -> np.ndarray | None:
    """The raw 8-bit values of a palette or grayscale PNG file (palette INDICES, not colours), else None.

    Returns None for PNGs of other colour types and for other formats.
    """
    data = read_bytes(path)
    return png_indices(data, path) if data.startswith(PNG_SIGNATURE) else None


def read_mask_file(path: Path) -> np.ndarray:
    """A mask file as stored: HxW (palette indices for palette PNGs) or HxWxC in RGB order."""
    data = read_bytes(path)
    if data.startswith(PNG_SIGNATURE) and (len(data) < 26 or data[25] == PALETTE):
        return png_indices(data, path)  # palette PNG (OpenCV decodes the rest faster, and exactly)
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if img is None:
        raise DatasetError(f"{path}: cannot decode mask" + ("" if data else " (empty file)"))
    if img.dtype != np.uint8:
        raise DatasetError(f"{path}: mask is {img.dtype}, expected 8-bit class ids")
    if img.ndim == 3:
        img = cv2.cvtColor(img[..., :3], cv2.COLOR_BGR2RGB)
    return img


def single_channel(raw: np.ndarray, path: Path) -> np.ndarray:
    """HxW from a mask; a 3-channel mask is accepted only when it is gray (all channels equal)."""
    if raw.ndim == 2:
        return raw
    if (raw[..., 0] == raw[..., 1]).all() and (raw[..., 0] == raw[..., 2]).all():
        return np.ascontiguousarray(raw[..., 0])
    raise DatasetError(f"{path}: colour mask ({raw.shape[2]} channels); masks must hold class ids in one channel")


def binary_from_0_255(mask: np.ndarray) -> np.ndarray:
    """A two-class mask stored as 0/255 (an image editor's black and white) -> 0/1; anything else unchanged."""
    if mask.max(initial=0) == 255 and np.isin(np.unique(mask), (0, 255)).all():
        return (mask // 255).astype(np.uint8)
    return mask
