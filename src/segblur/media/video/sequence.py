"""FrameFolder: the processed frames of a video as numbered PNG files (``000001.png``, ...) in a folder.

What ``segblur mask VIDEO -o DIR/`` writes: one matte per frame, at the video's size, for tools that take image
sequences. It stands in for a :class:`~segblur.media.video.writer.VideoWriter` in
:func:`~segblur.media.video.process.process_video` (same methods; audio and subtitles have nowhere to go), and
like it never leaves a half-written output: the frames go to a hidden temp folder and are moved into place when
the video is complete, so a stopped run, a truncated input or a failure leaves the folder as it was.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from ...io import make_temp_folder
from ..images import ImageError, write_image
from .errors import VideoError

DIGITS = 6  # 000001.png: a million frames (over 9 hours at 30 fps) sort by name


class FrameFolder:
    """Writes frame ``i`` (from 1) as ``folder/{i:06d}.png``: into a temp folder beside ``folder``, moved into
    ``folder`` by :meth:`close`.

    Frames are H x W (grey), H x W x 3 (RGB) or H x W x 4 (RGBA) uint8 of one size. ``close`` replaces the
    frames of an earlier run there (the numbered files that follow on from its last frame are removed: a shorter
    clip rerun into the folder leaves no stale frames); other files, a number after a gap included, are left
    alone. ``abort`` (or an error inside ``with``) deletes the temp folder and leaves ``folder`` as it was.
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
            self._tmp: Path | None = make_temp_folder(self.path)
        except OSError as e:
            raise VideoError(f"{self.path}: cannot create the folder ({e.strerror or e})") from None

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def __enter__(self) -> FrameFolder:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, frame: np.ndarray, pts: int | None = None) -> None:
        """Write the next frame (``pts`` is not needed: the files are numbered in order)."""
        a = np.asarray(frame)
        if a.shape[:2] != (self.height, self.width) or a.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width} uint8 frame, got {a.shape} {a.dtype}")
        if self._tmp is None:
            raise VideoError(f"{self.path}: the frame folder is already closed")
        self.frames += 1
        try:
            write_image(self._tmp / _name(self.frames), a)
        except ImageError as e:
            raise VideoError(str(e).replace(str(self._tmp), str(self.path))) from None

    def copy_packet(self, packet: Any) -> bool:
        """Audio and subtitles are not kept in a folder of images."""
        return False

    def close(self) -> None:
        """Move the frames into the folder (a rename of the whole temp folder when the folder is new)."""
        tmp, self._tmp = self._tmp, None
        if tmp is None:
            return
        try:
            if not self.path.exists():
                os.rename(tmp, self.path)
                return
            for i in range(1, self.frames + 1):
                os.replace(tmp / _name(i), self.path / _name(i))
            i = self.frames + 1  # the rest of a longer earlier run: the numbers that follow on, and no others
            while (self.path / _name(i)).is_file():
                os.unlink(self.path / _name(i))
                i += 1
        except OSError as e:
            raise VideoError(f"{self.path}: cannot move the frames into place ({e.strerror or e})") from None
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def abort(self) -> None:
        """Delete the frames written so far; the folder keeps what it held before."""
        tmp, self._tmp = self._tmp, None
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _name(i: int) -> str:
    return f"{i:0{DIGITS}d}.png"
