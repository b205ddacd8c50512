"""Where processed live frames go besides the preview window and the virtual camera: a recording, or nowhere.

Every sink is a :class:`~segblur.media.protocols.FrameSink`; one that cannot be set up is a
:class:`SinkError` with one line saying why (and, where it helps, how to fix it).
"""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..video import VideoError, VideoWriter
from .sources import as_fraction, fit_frame

RECORD_TIME_BASE = Fraction(1, 90_000)  # recordings are stamped with capture times in this unit


class SinkError(Exception):
    """An output that cannot be set up (no GUI for the preview, no virtual camera device, bad record path)."""


class NullSink:
    """Discards frames (headless runs that only measure); counts them."""

    def __init__(self) -> None:
        self.frames = 0

    def send(self, rgb: np.ndarray, index: int, captured: float = 0.0) -> None:
        self.frames += 1

    def close(self) -> None:
        pass


class RecordSink:
    """Records the shown frames with :class:`~segblur.media.video.writer.VideoWriter`, timed by when they were captured.

    Each frame is stamped with its capture time relative to the first one (in units of
    :data:`RECORD_TIME_BASE`), not with a frame count at the rate the source claims, so a camera
    that delivers fewer frames than it announces, or a frame dropped upstream (the previous one
    stays on screen), still records in real time. AVI stores no timestamps: there each frame takes
    the slot of ``1 / fps`` its capture time falls in. ``fps`` is the nominal rate written in the
    file. ``close`` finalises the file (atomic rename); ``abort`` deletes it.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: Fraction, **options: Any) -> None:
        self.path = Path(path)
        self.width, self.height = width, height
        tb = 1 / as_fraction(fps) if self.path.suffix.lower() == ".avi" else RECORD_TIME_BASE
        self.frames = 0
        self._first: float | None = None
        try:  # the last step, so that an interruption cannot fall between the writer's temp file and its owner
            self._writer = VideoWriter(self.path, width, height, fps, time_base=tb, **options)
        except VideoError as e:
            raise SinkError(str(e)) from None

    def send(self, rgb: np.ndarray, index: int, captured: float | None = None) -> None:
        """Encode one frame stamped at ``captured`` (a ``perf_counter()`` time; default: now)."""
        t = time.perf_counter() if captured is None else captured
        if self._first is None:
            self._first = t
        pts = round((t - self._first) / self._writer.time_base)  # the writer keeps them strictly increasing
        self._writer.write(fit_frame(rgb, self.width, self.height), pts=pts)
        self.frames += 1

    def close(self) -> None:
        """Finalise the recording; with no frame at all there is nothing to keep, so no file is written."""
        if self.frames:
            self._writer.close()
        else:
            self._writer.abort()

    def abort(self) -> None:
        self._writer.abort()

