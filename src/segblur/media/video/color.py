"""Colour tags of a video stream (YUV matrix, primaries, transfer, range) and RGB -> planar 4:2:0 YUV with them.

Frames are re-encoded in the colours they were decoded with, so that pixels the pipeline leaves
alone come out as they went in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from ...runtime.workspace import Workspace, scratch

# FFmpeg's AVColorSpace -> (Kr, Kb) of the YUV matrix; anything else (2 = unspecified) is decoded as BT.601.
KR_KB = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114), 7: (0.212, 0.087),
         9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
# AVColorSpace -> swscale's SWS_CS_* (for FFmpeg's own conversion of other pixel formats).
SWS_CS = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}


@dataclass(frozen=True)
class ColorInfo:
    """A stream's colour tags as FFmpeg's enum values: YUV matrix, primaries, transfer, range.

    The default is BT.709 with limited range (HD video, and sRGB camera frames). 2 means
    unspecified (FFmpeg then decodes with BT.601); range 1 is limited (16-235), 2 full, 0 unspecified.
    """

    colorspace: int = 1
    primaries: int = 1
    trc: int = 1
    range: int = 1

    @classmethod
    def of(cls, frame: Any) -> ColorInfo:
        """The tags of a decoded PyAV frame (or codec context); yuvj formats are full range."""
        rng = int(getattr(frame, "color_range", 0) or 0)
        fmt = getattr(getattr(frame, "format", None), "name", "") or ""
        if rng == 0 and fmt.startswith("yuvj"):
            rng = 2
        return cls(int(frame.colorspace), int(frame.color_primaries), int(frame.color_trc), rng)

    @property
    def full_range(self) -> bool:
        return self.range == 2

    def matrix(self) -> np.ndarray:
        """3 x 4 RGB -> YUV matrix (offsets in the last column), in 8-bit levels."""
        kr, kb = KR_KB.get(self.colorspace, KR_KB[5])
        kg = 1.0 - kr - kb
        sy, sc, oy = (1.0, 1.0, 0.0) if self.full_range else (219 / 255, 224 / 255, 16.0)
        return np.array([[sy * kr, sy * kg, sy * kb, oy],
                         [-sc * kr / (2 * (1 - kb)), -sc * kg / (2 * (1 - kb)), sc / 2, 128.0],
                         [sc / 2, -sc * kg / (2 * (1 - kr)), -sc * kb / (2 * (1 - kr)), 128.0]], np.float32)


UNTAGGED = ColorInfo(2, 2, 2, 0)  # what an encoder writes when told nothing (decoded as BT.601, limited)


def rgb_to_i420(rgb: np.ndarray, color: ColorInfo = UNTAGGED, *, matrix: np.ndarray | None = None,
                ws: Workspace | None = None) -> np.ndarray:
    """An even-sized H x W x 3 RGB frame as planar 4:2:0 YUV (H*3/2 x W) with ``color``'s matrix and range.

    Chroma is the 2 x 2 mean, like OpenCV's own conversion. BT.601 limited range (also untagged)
    uses OpenCV's RGB -> I420 (0.8 ms per 1080p frame); other matrices cost one cv2.transform
    (its 3-channel SIMD path) and a half-size resize: 2.3 ms per 1080p frame on 2 busy cores.
    ``matrix`` is ``color.matrix()`` computed once by a caller converting many frames; with ``ws``
    the intermediates are buffers reused frame after frame. The result is always a new array: PyAV's
    ``VideoFrame.from_ndarray`` may keep referring to it while the encoder holds the frame.
    """
    a = np.ascontiguousarray(rgb)
    h, w = a.shape[:2]
    if not color.full_range and KR_KB.get(color.colorspace, KR_KB[5]) == KR_KB[5]:
        return cv2.cvtColor(a, cv2.COLOR_RGB2YUV_I420)
    out = np.empty((h * 3 // 2, w), np.uint8)
    flat, n = out.reshape(-1), (h // 2) * (w // 2)
    # the 1- and 2-row matrices take a path 3-4x slower
    yuv = cv2.transform(a, color.matrix() if matrix is None else matrix, dst=scratch(ws, "yuv", (h, w, 3), np.uint8))
    half = cv2.resize(yuv, (w // 2, h // 2), dst=scratch(ws, "half", (h // 2, w // 2, 3), np.uint8),
                      interpolation=cv2.INTER_AREA)
    cv2.extractChannel(yuv, 0, dst=flat[:h * w].reshape(h, w))
    cv2.extractChannel(half, 1, dst=flat[h * w:h * w + n].reshape(h // 2, w // 2))
    cv2.extractChannel(half, 2, dst=flat[h * w + n:].reshape(h // 2, w // 2))
    return out
