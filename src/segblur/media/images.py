"""Read and validate images, write them atomically, and map inputs to output paths.

Errors are :class:`ImageError` with a one-line message that names the file, so a command-line
loop can report it and carry on with the other inputs.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..io import STDOUT, in_the_way, split_repeats, write_atomic
from .headers import beyond_rgb8, dimensions, sniff_format, truncated
from .limits import ENV as LIMIT_ENV
from .limits import max_file_bytes, max_pixels, too_many_pixels

READ_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
WRITE_SUFFIXES = READ_SUFFIXES
ALPHA_SUFFIXES = (".png", ".webp", ".tif", ".tiff")  # formats that keep an alpha channel
DEEP_SUFFIXES = (".png", ".tif", ".tiff")  # formats that keep 16 bits per channel
# OpenCV's default decoding limits (CV_IO_MAX_IMAGE_WIDTH/HEIGHT/PIXELS).
_MAX_SIDE = 1 << 20
_MAX_PIXELS = 1 << 30


class ImageError(Exception):
    """An input or output image problem; the message is one line naming the file."""


def _decode_error(p: Path, data: bytes, fmt: str, reason: str | None, too_large: bool) -> ImageError:
    size = dimensions(data, fmt)
    if size is not None and (max(size) > _MAX_SIDE or size[0] * size[1] > _MAX_PIXELS):
        too_large = True
    if too_large:
        return ImageError(f"{p}: image too large" + (f" ({size[0]}x{size[1]})" if size else ""))
    detail = f" ({' '.join(reason.split())})" if reason and reason.strip() else ""
    return ImageError(f"{p}: corrupt {fmt} file, cannot decode{detail}")


def _read_checked(p: Path) -> tuple[bytes, str]:
    """The bytes and format of an image file, after every check that needs no decoding.

    A FIFO, device or socket is refused before it is opened (reading one would hang or never end), a file
    larger than any image within the pixel limit before it is read, and an image whose header gives a size
    over the limit before it is decoded.
    """
    try:
        st = p.stat()
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(f"{p}: no such file") from None
    except OSError as e:
        raise ImageError(f"{p}: cannot read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"{p}: is a folder, not an image")
    if not stat.S_ISREG(st.st_mode):
        raise ImageError(f"{p}: not a regular file (a pipe, device or socket)")
    if st.st_size > max_file_bytes():
        raise ImageError(f"{p}: file too large for an image ({st.st_size / 1e6:.0f} MB; the pixel limit "
                         f"{max_pixels() / 1e6:.0f} MP allows {max_file_bytes() / 1e6:.0f} MB, set {LIMIT_ENV} "
                         "to change it)")
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
    if truncated(data, fmt):
        raise ImageError(f"{p}: truncated {fmt} file")
    size = dimensions(data, fmt)
    if size is not None and (max(size) > _MAX_SIDE or size[0] * size[1] > _MAX_PIXELS):
        raise ImageError(f"{p}: image too large ({size[0]}x{size[1]})")
    if size is not None and (problem := too_many_pixels(*size)):
        raise ImageError(f"{p}: image too large ({problem})")
    return data, fmt


class _QuietStderr:
    """While active (in any thread), the process's stderr (fd 2) goes to /dev/null; the first to enter redirects it,
    the last to leave restores it.

    libpng prints its own warnings and errors there ("libpng error: IDAT: CRC error", "iCCP: known incorrect sRGB
    profile") because OpenCV gives it no handler of its own; segblur reports a bad file in one line of its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._saved: int | None = None

    def __enter__(self) -> None:
        with self._lock:
            self._users += 1
            if self._users == 1:
                try:
                    sys.stderr.flush()
                    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
                    os.dup2(devnull, 2)
                    os.close(devnull)
                    self._saved = saved
                except (OSError, ValueError):  # no fd 2 (a GUI app): nothing to silence
                    self._saved = None

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0 and self._saved is not None:
                os.dup2(self._saved, 2)
                os.close(self._saved)
                self._saved = None


_quiet_stderr = _QuietStderr()


def _decode(p: Path, data: bytes, fmt: str, flags: int) -> np.ndarray:
    """``cv2.imdecode`` with its failures as one-line :class:`ImageError` s naming ``p`` (and libpng silenced)."""
    try:
        with _quiet_stderr if fmt == "PNG" else contextlib.nullcontext():
            img = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    except MemoryError:
        raise _decode_error(p, data, fmt, None, True) from None
    except cv2.error as e:
        # str(e): "OpenCV(x) file:line: error: (-215:Assertion failed) <what> in function '<f>'". (Not e.err:
        # OpenCV sets that on the class, so it can be left over from an earlier error.)
        text = " ".join(str(e).split())
        reason = text.split(") ", 1)[1] if "error: (" in text and ") " in text else text
        raise _decode_error(p, data, fmt, reason, "MAX_IMAGE" in text) from None
    if img is None or img.size == 0:
        raise _decode_error(p, data, fmt, None, False)
    if (problem := too_many_pixels(img.shape[1], img.shape[0])):  # a format whose header gave no size
        raise ImageError(f"{p}: image too large ({problem})")
    return img


def read_image(path: str | Path) -> np.ndarray:
    """Decode an image file to RGB uint8 (EXIF orientation applied); raise :class:`ImageError` if unusable.

    Images over the pixel limit (:func:`segblur.media.limits.max_pixels`) are refused before they are decoded.
    """
    p = Path(path)
    data, fmt = _read_checked(p)
    return cv2.cvtColor(_decode(p, data, fmt, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@dataclass
class Picture:
    """A decoded image file: RGB uint8 for the pipeline, and what the file holds beyond that to be put back.

    ``alpha`` is the file's alpha channel (H x W, its own depth), ``deep`` its RGB at 16 bits per channel.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    deep: np.ndarray | None = None

    def restore(self, out: np.ndarray, suffix: str) -> tuple[np.ndarray, list[str]]:
        """``out`` (the processed RGB uint8 of the same size) with the alpha channel and the 16-bit depth put back,
        as far as the format ``suffix`` can hold them; and a phrase for each that it cannot.

        At 16 bits, every pixel the pipeline left as it was (equal to ``rgb``) gets its exact 16-bit value back;
        changed pixels (the blurred background) are their 8-bit value scaled to 16 bits.
        """
        suffix = suffix.lower()
        lost = []
        img = out
        if self.deep is not None:
            if suffix in DEEP_SUFFIXES:
                residual = self.deep.astype(np.int32) - self.rgb.astype(np.int32) * 257
                img = out.astype(np.int32) * 257 + np.where(out == self.rgb, residual, 0)
                img = img.clip(0, 65535).astype(np.uint16)
            else:
                lost.append(f"16 bits per channel (written with 8; {suffix} holds no more)")
        if self.alpha is not None:
            if suffix in ALPHA_SUFFIXES:
                alpha = self.alpha
                if img.dtype != alpha.dtype:
                    alpha = (alpha.astype(np.uint32) * 257).astype(np.uint16) if img.dtype == np.uint16 else \
                        ((alpha.astype(np.uint32) + 128) // 257).astype(np.uint8)
                img = np.dstack([img, alpha])
            else:
                lost.append(f"the alpha channel ({suffix} has none)")
        return img, lost


def read_picture(path: str | Path) -> Picture:
    """Decode an image file like :func:`read_image`, keeping its alpha channel and 16-bit depth for
    :meth:`Picture.restore` (PNG, WebP, TIFF). Those files are decoded as stored, without EXIF rotation."""
    p = Path(path)
    data, fmt = _read_checked(p)
    if not beyond_rgb8(data, fmt):
        return Picture(cv2.cvtColor(_decode(p, data, fmt, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    img = _decode(p, data, fmt, cv2.IMREAD_UNCHANGED)
    if img.ndim == 2:
        img = img[..., None]
    channels = img.shape[2]
    colour = img[..., :3][..., ::-1] if channels >= 3 else np.repeat(img[..., :1], 3, axis=2)
    alpha = img[..., -1] if channels in (2, 4) else None
    if img.dtype == np.uint16:
        rgb = ((colour.astype(np.uint32) + 128) // 257).astype(np.uint8)
        return Picture(np.ascontiguousarray(rgb), alpha, np.ascontiguousarray(colour))
    if img.dtype != np.uint8:
        raise ImageError(f"{p}: unsupported pixel type {img.dtype} (8 or 16 bits per channel expected)")
    return Picture(np.ascontiguousarray(colour), alpha)


def encode_image(image: np.ndarray, suffix: str, quality: int = 95) -> bytes:
    """Encode an RGB or RGBA (or single-channel) image in the format that ``suffix`` names: uint8, or uint16 for
    PNG and TIFF.

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
    if image.ndim == 3:
        img = cv2.cvtColor(image, cv2.COLOR_RGBA2BGRA if image.shape[2] == 4 else cv2.COLOR_RGB2BGR)
    else:
        img = image
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
            elif st is not None and not stat.S_ISDIR(st.st_mode):  # reading a FIFO would hang: say so, skip it
                errors.append(f"{f}: not a regular file (a pipe, device or socket); skipped")
    return sorted(found, key=lambda x: x[0])


def names_a_folder(out: str | Path) -> bool:
    """Whether an output given as ``out`` is meant as a folder by its spelling: a string ending in a separator."""
    return isinstance(out, str) and out.endswith(tuple(s for s in (os.sep, os.altsep) if s))


def plan_jobs(inputs: Iterable[str | Path], out: str | Path, suffix: str | None = None, *,
              protect: Iterable[str | Path] = ()) -> tuple[list[Job], list[str]]:
    """Expand files and folders into jobs, and say what went wrong with the rest.

    One input file and an ``out`` with a suffix that is not a folder: ``out`` is the output file.
    Otherwise ``out`` is a folder: a file goes to ``out/<name>``, a folder's images (recursively,
    skipping hidden files and folders, and ``out`` itself when it lies inside) to ``out/<path
    inside that folder>``. ``out`` given as a string ending in a path separator is always a folder.
    Several inputs (or a folder) with an ``out`` named like an image file, or an existing file,
    raise :class:`ImageError` (that is never a folder the user meant), as does an ``out`` the
    system refuses. ``suffix`` replaces each output's suffix in a folder (``.png`` for masks); a
    single output file must already have it, and a writable suffix, and lie under a folder, not a file (else
    :class:`ImageError`: a bad output, said before any input is read). In a folder, an output
    whose suffix cannot be written gets ``.png``. A source named twice (``a.jpg ./a.jpg``, a folder
    and a file inside it) is processed once. An output that would overwrite an input or one of the
    ``protect`` files, or collide with another output, is an error.
    """
    if str(out) == STDOUT:  # a folder named "-" was made instead
        raise ImageError("-o -: pictures are written to files; give a file or folder name")
    out_named_folder = names_a_folder(out)
    out = Path(out)
    errors: list[str] = []
    try:
        out_st = _stat(out)
    except OSError as e:  # a name the system refuses (too long, no permission): no output can be written there
        raise ImageError(f"{out}: {e.strerror or e}") from None
    out_real = os.path.realpath(out)

    found: list[tuple[Path, Path]] = []  # (source, relative output)
    guarded: set[str] = set()  # real paths that must not be written
    guarded_ids: set[tuple[int, int]] = set()  # and their (device, inode)
    every: list[tuple[Path, Path, os.stat_result]] = []  # (source, relative output, its stat), repeats included
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
            every.extend(candidates)
        except OSError as e:
            errors.append(f"{i}: {e.strerror or e}")
    for src, rel, fst in split_repeats(every, lambda c: c[0])[0]:  # the same source again: once is enough
        guarded.add(os.path.realpath(src))
        guarded_ids.add(_file_id(fst))
        found.append((src, rel))
    for p in protect or ():
        guarded.add(os.path.realpath(p))
        try:
            pst = _stat(Path(p))
        except OSError:
            pst = None
        if pst is not None:
            guarded_ids.add(_file_id(pst))

    out_is_dir = out_st is not None and stat.S_ISDIR(out_st.st_mode)
    single = len(inputs) == 1 and not first_is_dir
    as_file = single and len(found) == 1 and not out_named_folder and not out_is_dir and out.suffix != ""
    if not single and found and not out_named_folder and not out_is_dir and \
            (out_st is not None or out.suffix.lower() in WRITE_SUFFIXES):
        what = "is a file" if out_st is not None else "names a file"
        raise ImageError(f"{out}: {what}; several inputs (or a folder) need an output folder")
    if as_file and suffix and out.suffix.lower() != suffix:
        raise ImageError(f"{out}: this output is written as {suffix}; name it {out.with_suffix(suffix).name} "
                         "or give a folder")
    if as_file and out.suffix.lower() not in WRITE_SUFFIXES:  # the user named this output file: a bad output
        raise ImageError(f"{out}: cannot write '{out.suffix}' files (use one of {', '.join(WRITE_SUFFIXES)})")
    reason = in_the_way(out, folder=not as_file)  # -o photo.jpg/x.png: "File exists" for every input, otherwise
    if reason:
        raise ImageError(f"{reason}; choose another output")
    jobs: list[Job] = []
    used: dict[str, Path] = {}
    for src, rel in found:
        dst = out if as_file else out / rel
        if suffix and not as_file:
            dst = dst.with_suffix(suffix)
        if dst.suffix.lower() not in WRITE_SUFFIXES:
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
