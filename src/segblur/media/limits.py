"""The largest picture segblur takes on: a pixel limit sized for this machine's memory, so that an enormous
photo, frame size or header is one line instead of the machine running out of memory.

The limit is ``SEGBLUR_MAX_PIXELS`` when set (a number: ``400000000``, ``400e6`` or ``400M``), else half the
memory (physical, or the container's limit when lower) divided by what one pixel costs on its way through the
pipeline, capped at OpenCV's own decoding limit.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV = "SEGBLUR_MAX_PIXELS"
# Peak memory per pixel of `segblur image` (decode, float mask, effect, composite, encode): peak RSS 920 MB on a
# 24 MP JPEG and 1.73 GB on a 48 MP one (34.5 bytes per pixel), measured with /usr/bin/time -v.
BYTES_PER_PIXEL = 35
OPENCV_MAX_PIXELS = 1 << 30  # CV_IO_MAX_IMAGE_PIXELS: OpenCV decodes nothing larger anyway
FALLBACK_MEMORY = 8 << 30  # where the memory size cannot be read


def memory_bytes() -> int:
    """The memory this process may use: physical memory, or the cgroup's limit when it is lower."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        total = FALLBACK_MEMORY
    for limit_file in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(limit_file).read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def _parse(text: str) -> int:
    t = text.strip().upper()
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(t[-1:], 1)
    value = float(t[:-1] if scale != 1 else t) * scale
    if not value >= 1:
        raise ValueError(text)
    return int(value)


def env_limit() -> int | None:
    """``SEGBLUR_MAX_PIXELS`` as a pixel count; None when unset or empty. ValueError (one line) when it is set to
    something that is not a positive number: the commands say so up front rather than quietly using the default."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return None
    try:
        return _parse(text)
    except ValueError:
        raise ValueError(f"{ENV}={text!r} is not a positive number of pixels (e.g. 400000000, 400e6 or 400M)") from None


def max_pixels() -> int:
    """The largest width x height segblur takes: ``SEGBLUR_MAX_PIXELS``, else sized for this machine's memory.

    A ``SEGBLUR_MAX_PIXELS`` that is not a positive number is ignored here (the machine's default applies); the
    commands refuse it first (:func:`env_limit`).
    """
    try:
        limit = env_limit()
    except ValueError:
        limit = None
    return limit if limit is not None else min(OPENCV_MAX_PIXELS, memory_bytes() // 2 // BYTES_PER_PIXEL)


def max_file_bytes() -> int:
    """The largest image file worth reading: the pixel limit at 8 bytes a pixel (16-bit RGBA, uncompressed)."""
    return max_pixels() * 8 + (1 << 20)


def _mp(pixels: int) -> str:
    """A pixel count in megapixels, with the digits that tell it apart (0.0001 MP, not 0 MP)."""
    return f"{pixels / 1e6:.3g} MP" if pixels < 10e6 else f"{pixels / 1e6:.0f} MP"


def too_many_pixels(width: int, height: int) -> str | None:
    """None when a ``width`` x ``height`` picture is within :func:`max_pixels`, else the reason (one phrase)."""
    limit = max_pixels()
    if width * height <= limit:
        return None
    try:
        from_env = env_limit() is not None
    except ValueError:
        from_env = False
    why = f"set by {ENV}" if from_env else f"for this machine's memory (set {ENV} to change it)"
    return f"{width}x{height} is {_mp(width * height)}, over the limit of {_mp(limit)} {why}"
