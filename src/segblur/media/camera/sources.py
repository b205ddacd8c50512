"""Where live frames come from: a camera, a video file or stream played like one, a still picture served like one.

Every source gives RGB uint8 frames of a fixed ``width`` x ``height`` at a nominal ``fps`` (a
:class:`~segblur.media.protocols.FrameSource`). A source that cannot be opened is a
:class:`SourceError`; one that stops mid-stream (camera unplugged, stream cut, file damaged) a
:class:`SourceLostError`, both one line naming the source.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...io import one_line
from ..limits import too_many_pixels
from ..protocols import FrameSource
from ..video.errors import VideoError
from ..video.reader import frame_rotation, packet_end, still_image, stream_rate, truncation, upright, video_stream

LOST_AFTER_S = 2.0  # a live source that gives no frame for this long is considered gone


class SourceError(Exception):
    """A source that cannot be opened at all (one line naming it)."""


class SourceLostError(Exception):
    """A source that stopped delivering frames mid-stream (camera unplugged, stream cut, file damaged)."""


def as_fraction(fps: float | Fraction | None, default: float = 30.0) -> Fraction:
    """A frame rate as a Fraction (29.97 -> 30000/1001); ``default`` when missing or not positive."""
    if fps is None or not math.isfinite(float(fps)) or float(fps) <= 0:
        fps = default
    return fps if isinstance(fps, Fraction) else Fraction(fps).limit_denominator(1001)


class _Pacer:
    """Sleeps until each frame's presentation time, so a file plays like a camera (never bursts after a stall)."""

    def __init__(self) -> None:
        self._origin: float | None = None

    def wait(self, t: float) -> None:
        now = time.perf_counter()
        if self._origin is None or now - (self._origin + t) > 1.0:  # first frame, or fell far behind: re-anchor
            self._origin = now - t
        delay = self._origin + t - now
        if delay > 0:
            time.sleep(delay)


class DeviceSource:
    """A camera through ``cv2.VideoCapture`` (index or /dev/videoN); size and fps are what the device really gives."""

    def __init__(self, device: int | str, size: tuple[int, int] | None = None, fps: float | None = None,
                 lost_after: float | None = None) -> None:
        self.name = f"camera {device}"
        self.lost_after = LOST_AFTER_S if lost_after is None else lost_after
        self._cap = cv2.VideoCapture(device)
        if not self._cap.isOpened():
            raise SourceError(f"{self.name}: cannot open (no such camera, no permission, or it is in use)")
        if size is not None:
            self._cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*"MJPG"))  # large sizes at full rate
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size[1])
        if fps is not None:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        ok, frame = self._cap.read()
        if not ok or frame is None:
            self._cap.release()
            raise SourceError(f"{self.name}: opened but gives no frames")
        self.height, self.width = frame.shape[:2]
        if (problem := too_many_pixels(self.width, self.height)):
            self._cap.release()
            raise SourceError(f"{self.name}: frames too large ({problem})")
        self._first: np.ndarray | None = frame
        self.fps = as_fraction(self._cap.get(cv2.CAP_PROP_FPS), default=fps or 30.0)

    def read(self) -> np.ndarray | None:
        """The next frame (RGB); raises :class:`SourceLostError` after ``lost_after`` seconds without one."""
        frame, self._first = self._first, None
        since = time.perf_counter()
        while frame is None:
            ok, frame = self._cap.read()
            if ok and frame is not None:
                break
            frame = None
            if time.perf_counter() - since > self.lost_after:
                raise SourceLostError(f"{self.name}: stopped delivering frames (disconnected?)")
            time.sleep(0.02)
        if frame.ndim == 2:
            return cv2.cvtColor(frame, cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2RGB if frame.shape[2] == 4 else cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()


class AvSource:
    """A video file or stream URL decoded with PyAV; files (and URLs of finite media) are paced like a camera.

    ``fps`` replaces the file's own frame rate for pacing; ``realtime=False`` decodes as fast as it can.
    Frames are turned upright by the display rotation (as ``segblur video`` does) and, with
    ``size`` (width, height), resized to it, as a camera asked for a size would give them. The
    end of the media is the end of the stream; a decoding or network error mid-stream, or media
    whose data ends well before the duration its header promises (a truncated download or copy,
    as ``segblur video`` finds it), is :class:`SourceLostError`. :attr:`frames` is how many frames
    the media holds, where known.
    """

    def __init__(self, spec: str | Path, fps: float | None = None, realtime: bool = True,
                 size: tuple[int, int] | None = None) -> None:
        try:
            import av
        except ImportError:
            raise SourceError("reading video files and streams needs PyAV: pip install 'segblur[camera]'") from None
        self.name = str(spec)
        self._av_error: type[Exception] = av.error.FFmpegError
        url = "://" in self.name
        try:
            self._container = av.open(self.name, timeout=(10.0, LOST_AFTER_S * 2) if url else None)
        except (self._av_error, OSError) as e:
            raise SourceError(f"{self.name}: cannot open ({one_line(e)})") from None
        try:  # the first that is not cover art, with frames within the pixel limit, as segblur video takes
            stream = video_stream(self._container, self.name)
        except VideoError as e:
            self._container.close()
            raise SourceError(str(e)) from None
        stream.thread_type = "SLICE"  # frame threading would hold back a frame per thread (latency)
        self.codec: str = stream.codec_context.name
        self.fps = as_fraction(fps or stream_rate(stream, default=None))
        self._fixed_rate = fps is not None
        live = url and self._container.duration is None
        self._pacer = _Pacer() if realtime and not live else None
        self._live, self._rate = live, stream_rate(stream)
        self._data_end = 0.0  # seconds: where the data of any stream ends, seen so far
        self._frames = self._decoded(stream)
        self._count = 0
        try:  # the first frame tells the display rotation (PyAV shows it on decoded frames only)
            self._first = next(self._frames, None)
        except (self._av_error, OSError) as e:
            self._container.close()
            raise SourceError(f"{self.name}: cannot read ({one_line(e)})") from None
        if self._first is None:
            self._container.close()
            raise SourceError(f"{self.name}: has no video frames")
        self.rotation = frame_rotation(self._first)
        w, h = self._first.width, self._first.height
        self.width, self.height = size or ((h, w) if self.rotation % 180 else (w, h))
        # How many frames the media holds (header, else duration x rate; None for a live stream or unknown).
        seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else \
            (self._container.duration / 1e6 if self._container.duration else None)
        self.frames: int | None = None if live else (stream.frames or (round(seconds * stream_rate(stream))
                                                                         if seconds else None))

    def read(self) -> np.ndarray | None:
        """The next frame (RGB), upright and at ``width`` x ``height``, after waiting for its time when paced.

        None at the end of the media.
        """
        frame, self._first = self._first, None
        try:
            frame = frame if frame is not None else next(self._frames)
        except StopIteration:
            if (short := self._truncated()) is not None:
                self._live = True  # said once
                raise SourceLostError(short) from None
            return None
        except (self._av_error, OSError) as e:
            raise SourceLostError(f"{self.name}: stream broke off after {self._count} frames ({one_line(e)})") from None
        if self._pacer is not None:
            t = frame.time if frame.time is not None and not self._fixed_rate else None
            self._pacer.wait(float(self._count / self.fps) if t is None else t)
        self._count += 1
        return np.ascontiguousarray(fit_frame(upright(frame.to_ndarray(format="rgb24"), self.rotation),
                                              self.width, self.height))

    def _decoded(self, stream: Any) -> Iterator[Any]:
        """The frames of ``stream``; every stream is demuxed, so that :meth:`_truncated` knows where the data ends."""
        for packet in self._container.demux():
            self._data_end = max(self._data_end, packet_end(packet))
            if packet.stream.index == stream.index:
                yield from packet.decode()

    def _truncated(self) -> str | None:
        """At the end of the media: why it ended early, or None. Data that stops well before the duration the header
        promises is a truncated file (:func:`segblur.media.video.reader.truncation`, as ``segblur video`` finds it)."""
        if self._live:
            return None
        reason = truncation(self._container, self._data_end, self._rate)
        return f"{self.name}: {reason}" if reason else None

    def close(self) -> None:
        self._container.close()


class SyntheticSource:
    """A still picture served like a camera: ``count`` frames at ``fps`` (None: as fast as they are taken).

    ``noise`` adds sensor-like Gaussian noise (sigma in grey levels), drawn afresh for a cycle of
    ``noise_frames`` frames made up front, so serving a frame costs nothing. For benchmarks and tests.
    """

    def __init__(self, frame: np.ndarray, fps: float | None = 30.0, count: int | None = None, noise: float = 0.0,
                 noise_frames: int = 16, seed: int = 0, name: str = "synthetic") -> None:
        self.name = name
        self.height, self.width = frame.shape[:2]
        self.fps = as_fraction(fps)
        self.count = count
        self._paced = fps is not None
        self._pacer = _Pacer()
        self._frames = noisy_frames(frame, noise, noise_frames, seed) if noise > 0 else [frame]
        self._n = 0

    def read(self) -> np.ndarray | None:
        """The next frame, on time; None after ``count`` frames."""
        if self.count is not None and self._n >= self.count:
            return None
        if self._paced:
            self._pacer.wait(self._n / float(self.fps))
        frame = self._frames[self._n % len(self._frames)]
        self._n += 1
        return frame

    def close(self) -> None:
        self._frames = []


def noisy_frames(frame: np.ndarray, sigma: float, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` copies of ``frame`` with independent Gaussian noise of ``sigma`` grey levels (clipped to 0..255)."""
    rng = np.random.default_rng(seed)
    base = frame.astype(np.int16)
    return [np.clip(base + np.rint(rng.normal(0.0, sigma, frame.shape)).astype(np.int16), 0, 255).astype(np.uint8)
            for _ in range(count)]


def open_source(spec: str | int | Path, size: tuple[int, int] | None = None, fps: float | None = None,
                realtime: bool = True) -> FrameSource:
    """Open a camera (index or /dev/videoN), a video file or a stream URL (rtsp://, http://, ...).

    ``size``/``fps`` are requested from a camera (it may give something else: read ``.width``,
    ``.height``, ``.fps``); a file or stream is resized to ``size`` and paced at ``fps`` (default:
    its own size, turned upright, and rate). Raises
    :class:`SourceError` with one line naming the source when it cannot be opened, or is a still image.
    """
    text = str(spec)
    if isinstance(spec, int) or text.isdigit():
        return DeviceSource(int(text), size, fps)
    if text.startswith("/dev/video"):
        if not Path(text).exists():
            raise SourceError(f"camera {text}: no such device")
        return DeviceSource(text, size, fps)
    if "://" not in text:
        p = Path(text)
        if not p.exists():
            raise SourceError(f"{text}: no such file (and not a camera index or URL)")
        if not p.is_file():
            raise SourceError(f"{text}: is not a file")
    source = AvSource(text, fps=fps, realtime=realtime, size=size)
    photo = still_image(text, source.frames, source.codec) if "://" not in text else None
    if photo:
        source.close()  # refused, as segblur video refuses it
        raise SourceError(photo)
    return source


def fit_frame(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` resized to width x height if it is not that size already (outputs and sources with a fixed size).

    Shrinking averages pixels (area), enlarging interpolates (linear)."""
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    shrink = width * height < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
