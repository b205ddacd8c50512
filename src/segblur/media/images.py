"""Read and validate images, write them atomically, and map inputs to output paths.

Errors are :class:`ImageError` with a one-line message that names the file, so a command-line
loop can report it and carry on with the other inputs.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

READ_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
WRITE_SUFFIXES = READ_SUFFIXES
_MAGIC = [(b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"),
          (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF")]


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


def _truncated(data: bytes, fmt: str) -> bool:
    if fmt == "JPEG":
        return b"\xff\xd9" not in data[-4096:]  # end-of-image marker (trailing bytes after it are common)
    if fmt == "PNG":
        return b"IEND" not in data[-64:]
    return False


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to RGB uint8 (EXIF orientation applied); raise :class:`ImageError` if unusable."""
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: no such file")
    if p.is_dir():
        raise ImageError(f"{p}: is a folder, not an image")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ImageError(f"{p}: cannot read ({e.strerror or e})") from None
    if not data:
        raise ImageError(f"{p}: empty file")
    fmt = sniff_format(data)
    if fmt is None:
        raise ImageError(f"{p}: not a supported image (JPEG, PNG, BMP, WebP or TIFF expected)")
    if _truncated(data, fmt):
        raise ImageError(f"{p}: truncated {fmt} file")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ImageError(f"{p}: corrupt {fmt} file, cannot decode")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def open_temp(path: Path) -> tuple[int, Path]:
    """Create a new hidden temp file beside ``path``; returns (fd, temp path).

    Created with mode 0666 so the umask applies, as for any normal file (mkstemp would force 0600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write bytes to ``path`` via a temp file in the same folder and a rename: never a half-written file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = open_temp(p)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def encode_image(image: np.ndarray, suffix: str, quality: int = 95) -> bytes:
    """Encode an RGB (or single-channel) uint8 image in the format that ``suffix`` names."""
    suffix = suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise ImageError(f"cannot write '{suffix}' files (use one of {', '.join(WRITE_SUFFIXES)})")
    img = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params: list[int] = []
    if suffix in (".jpg", ".jpeg"):
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    elif suffix == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(quality)]
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


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def plan_jobs(inputs: Iterable[str | Path], out: str | Path, suffix: str | None = None,
              single_file_ok: bool = True) -> tuple[list[Job], list[str]]:
    """Expand files and folders into jobs, and say what went wrong with the rest.

    One input file and an ``out`` that is not a folder: ``out`` is the output file. Otherwise
    ``out`` is a folder: a file goes to ``out/<name>``, a folder's images (recursively) to
    ``out/<path inside that folder>``. ``suffix`` replaces each output's suffix (``.png`` for
    masks). An output that would overwrite an input, or collide with another output, is an error.
    """
    out = Path(out)
    errors: list[str] = []
    found: list[tuple[Path, Path]] = []  # (source, relative output)
    inputs = [Path(i) for i in inputs]
    for i in inputs:
        if i.is_dir():
            files = sorted(f for f in i.rglob("*") if f.is_file() and f.suffix.lower() in READ_SUFFIXES
                           and not f.name.startswith("."))
            if not files:
                errors.append(f"{i}: folder holds no images ({', '.join(READ_SUFFIXES)})")
            found += [(f, f.relative_to(i)) for f in files]
        elif i.exists():
            found.append((i, Path(i.name)))
        else:
            errors.append(f"{i}: no such file or folder")
    as_file = (single_file_ok and len(inputs) == 1 and len(found) == 1 and not inputs[0].is_dir()
               and not out.is_dir() and out.suffix != "")
    jobs: list[Job] = []
    used: dict[Path, Path] = {}
    all_inputs = {f.resolve() for f, _ in found}
    for src, rel in found:
        dst = out if as_file else out / rel
        if suffix:
            dst = dst.with_suffix(suffix)
        if dst.suffix.lower() not in WRITE_SUFFIXES:
            errors.append(f"{dst}: cannot write '{dst.suffix}' files (use one of {', '.join(WRITE_SUFFIXES)})")
            continue
        if dst.resolve() in all_inputs or _same_file(src, dst):
            errors.append(f"{src}: output {dst} would overwrite an input; choose another -o")
            continue
        if dst.resolve() in used:
            errors.append(f"{src}: output {dst} would also be written for {used[dst.resolve()]}; skipped")
            continue
        used[dst.resolve()] = src
        jobs.append(Job(src, dst))
    return jobs, errors
