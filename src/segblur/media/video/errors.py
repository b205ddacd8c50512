"""The one error of video files (:class:`VideoError`), and PyAV imported only when a video is touched."""

from __future__ import annotations

from typing import Any


class VideoError(Exception):
    """An input or output video problem; the message is one line naming the file."""


def load_av() -> Any:
    """The ``av`` module (PyAV); :class:`VideoError` with how to install it when it is missing."""
    try:
        import av
    except ImportError:
        raise VideoError("video support needs PyAV: pip install 'segblur[video]'") from None
    # PyAV leaves FFmpeg's log off by default (segblur reports problems itself, one line per file).
    # Setting a level installs a Python log callback, which can deadlock with frame-threaded decoding.
    return av


def require_av() -> None:
    """Raise :class:`VideoError` (one line, how to install it) unless PyAV can be imported."""
    load_av()
