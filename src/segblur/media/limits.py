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


def max_pixels() -> int:
    """The largest width x height segblur takes: ``SEGBLUR_MAX_PIXELS``, else sized for this machine's memory.

    A ``SEGBLUR_MAX_PIXELS`` that is not a positive number is ignored (the machine's default applies).
    """
    text = os.environ.get(ENV)
    if text:
        try:
            return _parse(text)
        except ValueError:
            pass
    return min(OPENCV_MAX_PIXELS, memory_bytes() // 2 // BYTES_PER_PIXEL)


def max_file_bytes() -> int:
    """The largest image file worth reading: the pixel limit at 8 bytes a pixel (16-bit RGBA, uncompressed)."""
    return max_pixels() * 8 + (1 << 20)


def too_many_pixels(width: int, height: int) -> str | None:
    """None when a ``width`` x ``height`` picture is within :func:`max_pixels`, else the reason (one phrase)."""
    limit = max_pixels()
    if width * height <= limit:
        return None
    return (f"{width}x{height} is {width * height / 1e6:.0f} MP, over the limit of {limit / 1e6:.0f} MP "
            f"for this machine's memory (set {ENV} to change it)")
