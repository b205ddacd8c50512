"""Read and validate images, write them atomically, and map inputs to output paths.

Errors are :class:`ImageError` with a one-line message that names the file, so a command-line
loop can report it and carry on with the other inputs.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..io import write_atomic

READ_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
WRITE_SUFFIXES = READ_SUFFIXES
_MAGIC = [(b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"),
          (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF")]
# OpenCV's default decoding limits (CV_IO_MAX_IMAGE_WIDTH/HEIGHT/PIXELS).
_MAX_SIDE = 1 << 20
_MAX_PIXELS = 1 << 30


class ImageError(Exception):
    """An input or output image problem; the message is one line naming the file."""


def sniff_format(data: bytes) -> str | None:
    """The image format from the file's first bytes, or None if it is not one we read."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for magic, fmt in _MAGIC:
        if data.startswith(magic):
            return fmt
    return None


def _png_truncated(data: bytes) -> bool:
    """Walk the chunks (length, type, data, CRC) from the signature: True if the data ends before IEND.

    Bytes after IEND are ignored, as decoders do.
    """
    n, pos = len(data), 8
    while True:
        if pos + 8 > n:
            return True
        end = pos + 12 + int.from_bytes(data[pos:pos + 4], "big")
        if end > n:
            return True
        if data[pos + 4:pos + 8] == b"IEND":
            return False
        pos = end


# JPEG start-of-frame markers (they carry the image size): C0-CF except DHT (C4), JPG (C8) and DAC (CC).
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# In entropy-coded data a marker is 0xFF followed by anything but 0x00 (stuffing), RST0-7 or 0xFF (fill).
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _walk_jpeg(data: bytes) -> tuple[bool, tuple[int, int] | None]:
    """Walk the markers from SOI to EOI: (truncated, (width, height) from the first frame header or None).

    Segments are skipped by their length (so an EXIF thumbnail's EOI inside APP1 does not count);
    after each SOS the entropy-coded data runs to the next real marker (progressive files have
    several scans). Anything after EOI (e.g. the video of a "motion photo") is ignored. Structure
    this walk cannot follow is left to the decoder to judge (reported as not truncated).
    """
    n, pos, size = len(data), 2, None
    while True:
        pos = data.find(b"\xff", pos)  # like libjpeg, skip stray bytes before a marker
        if pos < 0:
            return True, size
        while pos < n and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= n:
            return True, size
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # EOI
            return False, size
        if marker in (0x00, 0x01) or 0xD0 <= marker <= 0xD8:  # no length: stuffing, TEM, RSTn, SOI
            continue
        if pos + 2 > n:
            return True, size
        length = int.from_bytes(data[pos:pos + 2], "big")
        if length < 2:
            return False, size  # bogus length: the decoder decides
        if pos + length > n:
            return True, size
        if marker in _JPEG_SOF and size is None and length >= 7:
            size = (int.from_bytes(data[pos + 5:pos + 7], "big"), int.from_bytes(data[pos + 3:pos + 5], "big"))
        pos += length
        if marker == 0xDA:  # SOS: entropy-coded data up to the next marker
            m = _JPEG_NEXT_MARKER.search(data, pos)
            if m is None:
                return True, size
            pos = m.start()


def _truncated(data: bytes, fmt: str) -> bool:
    if fmt == "JPEG":
        return _walk_jpeg(data)[0]
    if fmt == "PNG":
        return _png_truncated(data)
    return False  # other formats: the decoder decides


def _dimensions(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) from the header where cheaply known, else None."""
    if fmt == "PNG" and data[12:16] == b"IHDR" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if fmt == "JPEG":
        return _walk_jpeg(data)[1]
    if fmt == "BMP" and len(data) >= 26:
        header = int.from_bytes(data[14:18], "little")
        if header == 12:  # OS/2 BITMAPCOREHEADER
            return int.from_bytes(data[18:20], "little"), int.from_bytes(data[20:22], "little")
        if header >= 40:
            return (abs(int.from_bytes(data[18:22], "little", signed=True)),
                    abs(int.from_bytes(data[22:26], "little", signed=True)))
    return None


def _decode_error(p: Path, data: bytes, fmt: str, reason: str | None, too_large: bool) -> ImageError:
    size = _dimensions(data, fmt)
    if size is not None and (max(size) > _MAX_SIDE or size[0] * size[1] > _MAX_PIXELS):
        too_large = True
    if too_large:
        return ImageError(f"{p}: image too large" + (f" ({size[0]}x{size[1]})" if size else ""))
    detail = f" ({' '.join(reason.split())})" if reason and reason.strip() else ""
    return ImageError(f"{p}: corrupt {fmt} file, cannot decode{detail}")


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to RGB uint8 (EXIF orientation applied); raise :class:`ImageError` if unusable."""
    p = Path(path)
    try:
        st = p.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(f"{p}: no such file") from None
    except OSError as e:
        raise ImageError(f"{p}: cannot read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{p}: is a folder, not an image")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ImageError(f"{p}: cannot read ({e.strerror or e})") from None
    except MemoryError:
        raise ImageError(f"{p}: file too large to read") from None
    if not data:
        raise ImageError(f"{p}: empty file")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(f"{p}: not a supported image (JPEG, PNG, BMP, WebP or TIFF expected)")
    if _truncated(data, fmt):
        raise ImageError(f"{p}: truncated {fmt} file")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None or img.size == 0:
            raise _decode_error(p, data, fmt, None, False)
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    except MemoryError:
        raise _decode_error(p, data, fmt, None, True) from None
    except cv2.error as e:
        # str(e): "OpenCV(x) file:line: error: (-215:Assertion failed) <what> in function '<f>'". (Not e.err:
        # OpenCV sets that on the class, so it can be left over from an earlier error.)
        text = " ".join(str(e).split())
        reason = text.split(") ", 1)[1] if "error: (" in text and ") " in text else text
        raise _decode_error(p, data, fmt, reason, "MAX_IMAGE" in text) from None


def encode_image(image: np.ndarray, suffix: str, quality: int = 95) -> bytes:
    """Encode an RGB (or single-channel) uint8 image in the format that ``suffix`` names.

    ``quality`` (0-100) applies to JPEG and WebP.
    """
    suffix = suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise ImageError(f"cannot write '{suffix}' files (use one of {', '.join(WRITE_SUFFIXES)})")
    params: list[int] = []
    if suffix in (".jpg", ".jpeg", ".webp"):
        if not 0 <= quality <= 100:
            raise ImageError(f"quality must be between 0 and 100, not {quality}")
        key = cv2.IMWRITE_WEBP_QUALITY if suffix == ".webp" else cv2.IMWRITE_JPEG_QUALITY
        params = [key, int(quality)]
    img = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(suffix, img, params)
    if not ok:
        raise ImageError(f"cannot encode image as {suffix}")
    return buf.tobytes()


def write_image(path: str | Path, image: np.ndarray, quality: int = 95) -> None:
    """Encode by the path's suffix and write atomically; raise :class:`ImageError` naming the file on failure."""
    p = Path(path)
    try:
        data = encode_image(image, p.suffix, quality)
    except ImageError as e:
        raise ImageError(f"{p}: {e}") from None
    try:
        write_atomic(p, data)
    except OSError as e:
        raise ImageError(f"{p}: cannot write ({e.strerror or e})") from None


@dataclass(frozen=True)
class Job:
    """One input file and where its result goes."""

    src: Path
    dst: Path


def _stat(p: Path) -> os.stat_result | None:
    """``p.stat()``, or None if there is no such file; other errors (name too long, EACCES...) raise."""
    try:
        return p.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None


def _file_id(st: os.stat_result) -> tuple[int, int]:
    return st.st_dev, st.st_ino


def _scan_folder(folder: Path, out_real: str, errors: list[str]) -> list[tuple[Path, os.stat_result]]:
    """The image files under ``folder``, sorted, skipping hidden files and folders and the output folder."""
    root_real = os.path.realpath(folder)
    out_inside = out_real.startswith(root_real.rstrip(os.sep) + os.sep)  # OUT is a folder inside this one

    def report(e: OSError) -> None:
        errors.append(f"{e.filename or folder}: {e.strerror or e}")

    found: list[tuple[Path, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(folder, onerror=report):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")
                       and not (out_inside and os.path.realpath(os.path.join(dirpath, d)) == out_real)]
        for name in filenames:
            if name.startswith(".") or os.path.splitext(name)[1].lower() not in READ_SUFFIXES:
                continue
            f = Path(dirpath, name)
            try:
                st = _stat(f)
            except OSError as e:
                errors.append(f"{f}: {e.strerror or e}")
                continue
            if st is not None and stat.S_ISREG(st.st_mode):  # a dangling link is skipped
                found.append((f, st))
    return sorted(found, key=lambda x: x[0])


def plan_jobs(inputs: Iterable[str | Path], out: str | Path, suffix: str | None = None,
              single_file_ok: bool = True, *, protect: Iterable[str | Path] = ()) -> tuple[list[Job], list[str]]:
    """Expand files and folders into jobs, and say what went wrong with the rest.

    One input file and an ``out`` that is not a folder: ``out`` is the output file. Otherwise
    ``out`` is a folder: a file goes to ``out/<name>``, a folder's images (recursively, skipping
    hidden files and folders, and ``out`` itself when it lies inside) to ``out/<path inside that
    folder>``. ``out`` given as a string ending in a path separator is always a folder.
    ``suffix`` replaces each output's suffix (``.png`` for masks); in a folder, an output whose
    suffix cannot be written gets ``.png``. A source named twice (``a.jpg ./a.jpg``, a folder
    and a file inside it) is processed once. An output that would overwrite an input or one of
    the ``protect`` files, or collide with another output, is an error.
    """
    seps = tuple(s for s in (os.sep, os.altsep) if s)
    out_named_folder = isinstance(out, str) and out.endswith(seps)
    out = Path(out)
    errors: list[str] = []
    out_ok = True
    out_st: os.stat_result | None = None
    try:
        out_st = _stat(out)
    except OSError as e:
        errors.append(f"{out}: {e.strerror or e}")
        out_ok = False
    out_real = os.path.realpath(out)

    found: list[tuple[Path, Path]] = []  # (source, relative output)
    guarded: set[str] = set()  # real paths that must not be written
    guarded_ids: set[tuple[int, int]] = set()  # and their (device, inode)
    inputs = [Path(i) for i in inputs]
    first_is_dir = False
    for n, i in enumerate(inputs):
        try:
            st = _stat(i)
            if st is None:
                errors.append(f"{i}: no such file or folder")
                continue
            if stat.S_ISDIR(st.st_mode):
                first_is_dir = first_is_dir or n == 0
                before = len(errors)
                files = _scan_folder(i, out_real, errors)
                if not files and len(errors) == before:
                    errors.append(f"{i}: folder holds no images ({', '.join(READ_SUFFIXES)})")
                candidates = [(f, f.relative_to(i), fst) for f, fst in files]
            else:
                candidates = [(i, Path(i.name), st)]
            for src, rel, fst in candidates:
                real = os.path.realpath(src)
                if real in guarded:
                    continue  # the same source again: once is enough
                guarded.add(real)
                guarded_ids.add(_file_id(fst))
                found.append((src, rel))
        except OSError as e:
            errors.append(f"{i}: {e.strerror or e}")
    for p in protect or ():
        guarded.add(os.path.realpath(p))
        try:
            pst = _stat(Path(p))
        except OSError:
            pst = None
        if pst is not None:
            guarded_ids.add(_file_id(pst))
    if not out_ok:
        return [], errors

    as_file = (single_file_ok and len(inputs) == 1 and len(found) == 1 and not first_is_dir
               and not out_named_folder and not (out_st is not None and stat.S_ISDIR(out_st.st_mode))
               and out.suffix != "")
    jobs: list[Job] = []
    used: dict[str, Path] = {}
    for src, rel in found:
        dst = out if as_file else out / rel
        if suffix:
            dst = dst.with_suffix(suffix)
        if dst.suffix.lower() not in WRITE_SUFFIXES:
            if as_file:  # the user named this output file
                errors.append(f"{dst}: cannot write '{dst.suffix}' files (use one of {', '.join(WRITE_SUFFIXES)})")
                continue
            dst = dst.with_suffix(".png")  # reading the source will say what is wrong with it
        try:
            real = os.path.realpath(dst)
            dst_st = _stat(dst)
        except OSError as e:
            errors.append(f"{dst}: {e.strerror or e}")
            continue
        if real in guarded or (dst_st is not None and _file_id(dst_st) in guarded_ids):
            errors.append(f"{src}: output {dst} would overwrite an input; choose another -o")
            continue
        if real in used:
            errors.append(f"{src}: output {dst} would also be written for {used[real]}; skipped")
            continue
        used[real] = src
        jobs.append(Job(src, dst))
    return jobs, errors
