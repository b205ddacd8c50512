"""Reading a video file: opening and probing it, and decoding its first video stream frame by frame.

Frames come out upright (turned by the display rotation, as players show them) with their own
timestamps, so that variable frame rates survive; the packets of the other streams are handed
along in file order for the writer to copy.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ...io import one_line, thread_refused
from ..images import READ_SUFFIXES
from ..limits import too_many_pixels
from ..protocols import Frame
from .color import UNTAGGED, ColorInfo
from .errors import VideoError, load_av
from .passthrough import COPIED

ATTACHED_PIC = 0x400  # AV_DISPOSITION_ATTACHED_PIC


def frame_rotation(frame: Any) -> int:
    """Display rotation of a decoded PyAV frame: counter-clockwise degrees, a multiple of 90 (0 if none)."""
    try:
        return int(round((frame.rotation or 0) / 90)) * 90 % 360
    except (AttributeError, TypeError, ValueError):
        return 0


def upright(rgb: np.ndarray, rotation: int) -> np.ndarray:
    """``rgb`` turned as players show it (``rotation``: counter-clockwise degrees): the model sees people upright."""
    turns = rotation // 90 % 4
    return np.rot90(rgb, turns) if turns else rgb


def stream_rate(vs: Any, default: Fraction | None = Fraction(25)) -> Fraction | None:
    """A PyAV video stream's frame rate: average, else guessed, else base rate, else ``default``."""
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    return Fraction(rate) if rate else default


@dataclass
class VideoInfo:
    """What :func:`probe_video` finds: the first video stream and the streams copied with it."""

    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int | None  # from the header, else duration x fps; None if neither is known
    duration: float | None  # seconds
    copied_streams: int  # audio and subtitle streams
    rotation: int  # display rotation in degrees, counter-clockwise
    color: ColorInfo = UNTAGGED  # the first frame's colour tags (what it is decoded and re-encoded with)


def open_input(path: Path) -> Any:
    """``path`` opened with PyAV; :class:`VideoError` (one line) when it is missing, empty or not a video file."""
    av = load_av()
    if not path.exists():
        raise VideoError(f"{path}: no such file")
    if not path.is_file():
        raise VideoError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise VideoError(f"{path}: empty file")
    try:
        return av.open(str(path), "r")
    except av.error.FFmpegError as e:
        raise VideoError(f"{path}: not a readable video file ({one_line(e)})") from None
    except OSError as e:
        raise VideoError(f"{path}: cannot read ({one_line(e)})") from None


def _is_cover(stream: Any) -> bool:
    """True for an attached picture (cover art): a video stream of one still image."""
    return bool(int(getattr(stream, "disposition", 0) or 0) & ATTACHED_PIC)


def video_stream(container: Any, path: str | Path) -> Any:
    """The first video stream of an open ``container`` that is not cover art; :class:`VideoError` if there is none,
    it has no size, or its frames are over the pixel limit (:func:`segblur.media.limits.max_pixels`)."""
    streams = [s for s in container.streams.video if not _is_cover(s)]
    if not streams:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        cover = " (only cover art)" if container.streams.video else ""
        raise VideoError(f"{path}: no video stream{cover} (streams: {', '.join(kinds)})")
    vs = streams[0]
    if not vs.codec_context.width or not vs.codec_context.height:
        raise VideoError(f"{path}: video stream has no frame size (corrupt file?)")
    if (problem := too_many_pixels(vs.codec_context.width, vs.codec_context.height)):
        raise VideoError(f"{path}: frames too large ({problem})")
    return vs


def left_out(container: Any, stream: Any, path: Path) -> list[str]:
    """A note for each thing of ``path`` that the output cannot carry: other video streams and cover art (only
    ``stream`` is processed, and copying them would keep unblurred pictures), and bit depth or alpha of ``stream``
    beyond 8-bit RGB (the pipeline works in 8 bits)."""
    notes = []
    for s in container.streams.video:
        if s.index == stream.index:
            continue
        what = "cover art (an attached picture)" if _is_cover(s) else "a second video stream"
        notes.append(f"note: {path}: video stream #{s.index} ({s.codec_context.name}) is {what}; only stream "
                     f"#{stream.index} is processed, so it is left out")
    fmt = getattr(stream.codec_context, "format", None)
    components = getattr(fmt, "components", ()) or ()
    bits = max((c.bits for c in components), default=8)
    if bits > 8:
        notes.append(f"note: {path}: {bits}-bit video ({fmt.name}) is written as 8-bit (the pipeline works in 8 bits)")
    if any(getattr(c, "is_alpha", False) for c in components):
        notes.append(f"note: {path}: the video's alpha channel ({fmt.name}) is not kept")
    return notes


def _frame_tags(frames: Iterator[Any], av: Any) -> tuple[int, ColorInfo]:
    """Display rotation and colour tags of the first of ``frames`` ((0, untagged) if none decodes).

    PyAV exposes the display matrix on decoded frames only, so this decodes one frame.
    """
    try:
        for frame in frames:
            return frame_rotation(frame), ColorInfo.of(frame)
    except (av.error.FFmpegError, OSError, AttributeError):
        pass
    return 0, UNTAGGED


def _first_frame(path: Path) -> tuple[int, ColorInfo]:
    """:func:`_frame_tags` of the first video frame of a fresh open of ``path``."""
    av = load_av()
    try:
        with av.open(str(path), "r") as c:
            return _frame_tags(c.decode(video_stream(c, path)), av)
    except (av.error.FFmpegError, OSError, VideoError):
        return 0, UNTAGGED


def probe_video(path: str | Path) -> VideoInfo:
    """Open ``path`` and describe its first video stream (raises :class:`VideoError` for a bad file).

    The first frame is decoded for its rotation and colour tags; pass the result to
    :func:`~segblur.media.video.process_video` as ``info`` so it need not be probed again.
    """
    p = Path(path)
    with open_input(p) as c:
        vs = video_stream(c, p)
        fps = stream_rate(vs)
        duration = float(vs.duration * vs.time_base) if vs.duration and vs.time_base else \
            (c.duration / 1e6 if c.duration else None)
        frames = vs.frames or (round(duration * fps) if duration else None)
        copied = sum(s.type in COPIED for s in c.streams)
        return VideoInfo(p, vs.codec_context.width, vs.codec_context.height, fps, frames or None,
                         duration, copied, *_frame_tags(c.decode(vs), load_av()))


def demux(container: Any, path: Path) -> Iterator[Any]:
    """Every packet of every stream, turning read errors into :class:`VideoError` naming ``path``."""
    av = load_av()
    it = container.demux()
    while True:
        try:
            packet = next(it)
        except StopIteration:
            return
        except (av.error.FFmpegError, OSError) as e:
            if thread_refused(e):  # not the file's fault: said once for the whole command
                raise
            raise VideoError(f"{path}: cannot read, truncated or corrupt ({one_line(e)})") from None
        yield packet


def packet_end(packet: Any) -> float:
    """Where a demuxed packet's data ends, in seconds (0 when it carries no timestamp): what :func:`truncation`
    compares with the duration the header promises."""
    if packet.pts is None or not packet.time_base:
        return 0.0
    return float((packet.pts + (packet.duration or 0)) * packet.time_base)


ANIMATED_CODECS = ("apng", "gif")  # pictures that may move: FFmpeg knows no frame count for an animated PNG


def still_image(path: str | Path, frames: int | None, codec: str | None = None) -> str | None:
    """The one line refusing a photo given as a video (FFmpeg reads one as a one-frame video), or None: a file of
    one frame (or unknown, unless its ``codec`` animates) with a picture's suffix."""
    if codec in ANIMATED_CODECS and frames != 1:
        return None
    if (frames or 1) == 1 and Path(path).suffix.lower() in READ_SUFFIXES:
        return f"{path}: a still image, not a video; use segblur image for pictures"
    return None


def truncation(container: Any, data_end: float, fps: float | Fraction) -> str | None:
    """Why a file's data, ending at ``data_end`` s, is cut short ("truncated (data ends at ...)"), or None: data
    that stops more than two frames (at least 0.5 s) before the duration the header promises is a truncated
    download or copy. The one rule for :class:`VideoReader` and the camera's file source."""
    if not container.duration:
        return None
    # FFmpeg's duration is the span of the data, except that Matroska's (.mkv, .webm) counts from 0: a complete file
    # whose timestamps start at 5 s (a -copyts remux of a TS recording) would otherwise be "truncated".
    start = 0 if "matroska" in getattr(getattr(container, "format", None), "name", "") else container.start_time or 0
    expected = (container.duration + start) / 1e6
    if math.isfinite(expected) and data_end < expected - max(0.5, 2 / float(fps)):
        return f"truncated (data ends at {data_end:.2f} s of {expected:.2f} s)"
    return None


class VideoReader:
    """An open video file: its first video stream decoded to upright RGB :class:`Frame` s, the other packets passed on.

    ``info`` (:func:`probe_video`'s result for ``path``) saves decoding the first frame again for
    its rotation and colours. :attr:`left_out` says, a line each, what the output will not carry
    (:func:`left_out`). Use as a context manager (the file is closed at the end).
    :attr:`seconds` is the time spent demuxing and decoding.
    """

    def __init__(self, path: str | Path, info: VideoInfo | None = None) -> None:
        self.path = Path(path)
        self.container = open_input(self.path)
        try:
            self.stream = video_stream(self.container, self.path)
            self.stream.thread_type = "AUTO"
            self.fps: Fraction = info.fps if info is not None else stream_rate(self.stream)
            self.time_base: Fraction = self.stream.time_base or 1 / Fraction(self.fps)
            self.width, self.height = self.stream.codec_context.width, self.stream.codec_context.height
            self.rotation, self.color = (info.rotation, info.color) if info is not None else _first_frame(self.path)
            self.left_out = left_out(self.container, self.stream, self.path)
        except BaseException:
            self.container.close()
            raise
        self.seconds = 0.0
        self.stream_end = 0.0  # seconds: where the data of any stream ends, seen so far

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.close()

    def items(self) -> Iterator[tuple[list[Any], Frame | None]]:
        """(audio/subtitle packets to copy first, the next decoded frame or None at the end), in file order."""
        av = load_av()
        copied: list[Any] = []
        n = 0
        t0 = time.perf_counter()
        for packet in demux(self.container, self.path):
            self.stream_end = max(self.stream_end, packet_end(packet))
            if packet.stream.index != self.stream.index:
                copied.append(packet)
                continue
            try:
                frames = packet.decode()
            except (av.error.FFmpegError, OSError) as e:
                if thread_refused(e):  # the decoder's threads (EAGAIN), not corrupt data
                    raise
                raise VideoError(f"{self.path}: corrupt video data ({one_line(e)})") from None
            for frame in frames:
                item = copied, self._frame(frame, n)
                self.seconds += time.perf_counter() - t0
                yield item
                t0 = time.perf_counter()
                copied, n = [], n + 1
        self.seconds += time.perf_counter() - t0
        yield copied, None

    def _frame(self, frame: Any, n: int) -> Frame:
        rgb = upright(frame.to_ndarray(format="rgb24"), self.rotation)  # the stored orientation is kept
        t = float(frame.pts * self.time_base) if frame.pts is not None else n / float(self.fps)
        duration = float(frame.duration * self.time_base) if frame.duration else 1 / float(self.fps)
        return Frame(rgb, n, t, duration, frame.pts)

    def check_complete(self, end: float) -> None:
        """Raise if the streams (or the frames, ending at ``end`` s) stop well before the duration the header promises.

        That is a truncated download or copy; call it after reading everything.
        """
        reason = truncation(self.container, max(end, self.stream_end), self.fps)
        if reason:
            raise VideoError(f"{self.path}: {reason}")
