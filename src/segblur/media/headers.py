"""What an image file's first bytes say before it is decoded: its format, whether it is truncated, its size, and
whether it holds more than 8-bit RGB (an alpha channel, 16 bits per channel).

Reading the header first lets :func:`segblur.media.images.read_image` refuse an image too large for memory
before the decoder allocates it (and before libpng prints its own complaints).
"""

from __future__ import annotations

import re
import struct

_MAGIC = [(b"\xff\xd8\xff", "JPEG"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"BM", "BMP"),
          (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF")]


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


def truncated(data: bytes, fmt: str) -> bool:
    if fmt == "JPEG":
        return _walk_jpeg(data)[0]
    if fmt == "PNG":
        return _png_truncated(data)
    return False  # other formats: the decoder decides


def dimensions(data: bytes, fmt: str) -> tuple[int, int] | None:
    """(width, height) from the header, else None (a header this cannot follow: the decoder decides)."""
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
    if fmt == "WEBP":
        return _webp_header(data)[0]
    if fmt == "TIFF":
        tiff = _tiff_header(data)
        return tiff[:2] if tiff is not None else None
    return None


def _webp_header(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """((width, height) or None, has alpha) from the first chunk of a WebP file (VP8X, VP8L or VP8)."""
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        alpha = bool(data[20] & 0x10)
        return (int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1), alpha
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1), bool(bits >> 28 & 1)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return (int.from_bytes(data[26:28], "little") & 0x3FFF, int.from_bytes(data[28:30], "little") & 0x3FFF), False
    return None, False


def _tiff_header(data: bytes) -> tuple[int, int, int, int] | None:
    """(width, height, bits per sample, samples per pixel) from the first image directory of a TIFF file, or None."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        (ifd,) = struct.unpack_from(order + "I", data, 4)
        (count,) = struct.unpack_from(order + "H", data, ifd)
        tags: dict[int, int] = {}
        for i in range(min(count, 512)):
            tag, kind, n = struct.unpack_from(order + "HHI", data, ifd + 2 + 12 * i)
            at = ifd + 2 + 12 * i + 8
            if kind == 3:  # SHORT: the first value (bits per sample repeats per channel, so one is enough)
                if n > 2:
                    (at,) = struct.unpack_from(order + "I", data, at)
                tags[tag] = struct.unpack_from(order + "H", data, at)[0]
            elif kind == 4 and n == 1:  # LONG
                tags[tag] = struct.unpack_from(order + "I", data, at)[0]
    except struct.error:
        return None
    if 256 not in tags or 257 not in tags:
        return None
    return tags[256], tags[257], tags.get(258, 1), tags.get(277, 1)


def _png_has_transparency(data: bytes) -> bool:
    """True if a tRNS chunk comes before the image data (a palette or grey PNG with transparent entries)."""
    pos = 8
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        if kind == b"tRNS":
            return True
        if kind in (b"IDAT", b"IEND"):
            return False
        pos += 12 + length
    return False


def beyond_rgb8(data: bytes, fmt: str) -> bool:
    """True when the file holds more than 8-bit RGB that a plain colour decode would throw away: an alpha channel
    (or transparency) or more than 8 bits per channel. Only PNG, WebP and TIFF are asked; others are 8-bit RGB."""
    if fmt == "PNG" and len(data) >= 26:
        return data[24] > 8 or data[25] in (4, 6) or _png_has_transparency(data)
    if fmt == "WEBP":
        return _webp_header(data)[1]
    if fmt == "TIFF":
        tiff = _tiff_header(data)
        return tiff is not None and (tiff[2] > 8 or tiff[3] not in (1, 3))
    return False
