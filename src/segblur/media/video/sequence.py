"""FrameFolder: the processed frames of a video as numbered PNG files (``000001.png``, ...) in a folder.

What ``segblur mask VIDEO -o DIR/`` writes: one matte per frame, at the video's size, for tools that take image
sequences. It stands in for a :class:`~segblur.media.video.writer.VideoWriter` in
:func:`~segblur.media.video.process.process_video` (same methods; audio and subtitles have nowhere to go).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..images import ImageError, write_image
from .errors import VideoError

DIGITS = 6  # 000001.png: a million frames (over 9 hours at 30 fps) sort by name


class FrameFolder:
    """Writes frame ``i`` (from 1) to ``folder/{i:06d}.png``, each file atomically.

    Frames are H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA) uint8 of one size. A failure leaves the
    frames written so far (each one complete). Use as a context manager, like a video writer.
    """

    copied_streams = 0
    converted_streams = 0

    def __init__(self, folder: str | Path, width: int, height: int) -> None:
        self.path = Path(folder)
        self.width, self.height = width, height
        self.frames = 0
        self.notes: list[str] = []
        if self.path.exists() and not self.path.is_dir():
            raise VideoError(f"{self.path}: exists and is not a folder")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise VideoError(f"{self.path}: cannot create the folder ({e.strerror or e})") from None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def __enter__(self) -> FrameFolder:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        """Write the next frame (``pts`` is not needed: the files are numbered in order)."""
        a = np.asarray(frame)
        if a.shape[:2] != (self.height, self.width) or a.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width} uint8 frame, got {a.shape} {a.dtype}")
        self.frames += 1
        try:
            write_image(self.path / f"{self.frames:0{DIGITS}d}.png", a)
        except ImageError as e:
            raise VideoError(str(e)) from None

    def copy_packet(self, packet: Any) -> bool:
        """Audio and subtitles are not kept in a folder of images."""
        return False

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass
