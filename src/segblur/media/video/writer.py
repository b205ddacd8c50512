"""VideoWriter: RGB frames encoded to a video file, atomically, with the input's audio and subtitles carried along."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ...io import one_line, open_temp, remove_temps
from ...runtime.workspace import Workspace
from .codecs import CONTAINERS, check_container, codec_options, default_codec, even_sides
from .color import SWS_CS, ColorInfo, rgb_to_i420
from .errors import VideoError, load_av
from .passthrough import Passthrough


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name the same file (an output that would overwrite its input)."""
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


class VideoWriter:
    """Encode RGB frames to a video file, atomically: a temp file in the destination folder, renamed on close.

    ``codec`` defaults to libx264 (libvpx-vp9 for .webm). ``fps`` may be fractional (a
    :class:`~fractions.Fraction`, e.g. 30000/1001). Frames are stamped
    ``0, 1, 2, ...`` in units of ``time_base`` (default ``1/fps``; always ``1/fps`` for AVI, which
    stores frame slots, not timestamps) unless :meth:`write` is given a ``pts``. An odd width or
    height is padded by one edge pixel where the encoder stores only even sides in the pixel format (libx264 and
    libx265 in 4:2:0, see :func:`~segblur.media.video.codecs.even_sides`), with a note; VP9 keeps it.
    Frames are RGB (H x W x 3), or RGBA (H x W x 4) for a pixel format with alpha (``yuva444p10le``,
    ``yuva420p``, ...), or grey (H x W) for a ``gray`` pixel format (a matte).
    ``color`` is the YUV matrix and range the RGB frames are converted with and the colour tags
    written (default: BT.709, limited range). ``audio_from`` (an open PyAV input container) adds a
    copy of each of its audio and subtitle streams; feed their packets to :meth:`copy_packet`. A
    stream the container cannot hold is re-encoded (audio) or converted (text subtitles) or else
    left out, with a line to ``notify`` (also kept in :attr:`notes`). ``rotation`` sets the display
    rotation (counter-clockwise degrees). Use as a context manager: an exception aborts (deletes the temp file).
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float | Fraction, *, codec: str | None = None,
                 crf: float | None = 23, pix_fmt: str = "yuv420p", audio_from: Any = None,
                 time_base: Fraction | None = None, rotation: int = 0, options: dict[str, str] | None = None,
                 color: ColorInfo | None = None, notify: Callable[[str], None] | None = None) -> None:
        av = load_av()
        self.path = Path(path)
        check_container(self.path)
        fmt = CONTAINERS[self.path.suffix.lower()]
        if width < 1 or height < 1:
            raise VideoError(f"{self.path}: bad frame size {width}x{height}")
        fps = Fraction(fps).limit_denominator(1_000_000)
        if fps <= 0:
            raise VideoError(f"{self.path}: frame rate must be positive, got {fps}")
        self.width, self.height, self.fps = width, height, fps
        self.color = color or ColorInfo()
        self._matrix = self.color.matrix()  # RGB -> YUV, the same for every frame
        self._ws = Workspace()  # the padded frame and the YUV planes, reused frame after frame
        codec = codec or default_codec(self.path)
        # AVI stores no timestamps, only frame slots of the stream's time base: 1/fps, whatever the caller asked for
        # (with the input's 1/12800 players read a 25 fps clip as 600 fps).
        self.time_base = 1 / fps if fmt == "avi" or not time_base else Fraction(time_base)
        self._step = max(1, round(1 / (fps * self.time_base)))  # pts units from one frame slot to the next
        even_w, even_h = even_sides(codec, pix_fmt)
        self._pad = (width % 2 if even_w else 0, height % 2 if even_h else 0)
        # What write() takes: grey for a grey stream, RGBA for one with alpha, else RGB.
        self._input = "gray" if pix_fmt.startswith("gray") else \
            "rgba" if pix_fmt.startswith(("yuva", "rgba", "bgra", "argb", "abgr", "gbrap", "ya")) else "rgb24"
        self.channels = {"gray": 1, "rgba": 4, "rgb24": 3}[self._input]
        self.frames = 0
        self.notes: list[str] = []
        self._notify = notify
        self._last_pts: int | None = None
        self._tmp: Path | None = None
        self._container = None
        self._passthrough: Passthrough | None = None
        made: list[Path] = []  # the temp file's name, known before it exists (see open_temp)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = open_temp(self.path, made)
            os.close(fd)
        except OSError as e:
            remove_temps(made)
            raise VideoError(f"{self.path}: cannot write ({one_line(e)})") from None
        except BaseException:  # Ctrl-C or SIGTERM between the file's creation and here
            remove_temps(made)
            raise
        try:  # from here on every way out but success removes the temp file (Ctrl-C and SIGTERM too)
            try:
                self._container = av.open(str(self._tmp), "w", format=fmt)
                self._stream = self._add_video(codec, pix_fmt, crf, fmt, rotation, options)
            except (av.error.FFmpegError, ValueError, TypeError, OSError) as e:
                raise VideoError(f"{self.path}: cannot encode with {codec} ({one_line(e)})") from None
            try:
                if audio_from is not None:
                    self._passthrough = Passthrough(self._container, fmt, audio_from, self.path, self._note)
            except (av.error.FFmpegError, OSError) as e:
                raise VideoError(f"{self.path}: cannot write ({one_line(e)})") from None
        except BaseException:
            self.abort()
            raise
        if any(self._pad):
            w, h = self.size
            self._note(f"note: {self.path}: {width}x{height} is written as {w}x{h}, the last "
                       f"{'column and row' if all(self._pad) else 'column' if self._pad[0] else 'row'} repeated "
                       f"({codec} stores only even sizes in {pix_fmt}; a .webm output keeps {width}x{height})")

    def _add_video(self, codec: str, pix_fmt: str, crf: float | None, fmt: str, rotation: int,
                   options: dict[str, str] | None) -> Any:
        vs = self._container.add_stream(codec, rate=self.fps)
        vs.width, vs.height = self.size
        vs.pix_fmt = pix_fmt
        self._i420 = pix_fmt == "yuv420p" and vs.width % 2 == 0 and vs.height % 2 == 0  # our I420 needs even sides
        self._yuv = pix_fmt.startswith(("yuv", "nv"))
        vs.time_base = self.time_base
        cc = vs.codec_context
        cc.time_base = self.time_base
        cc.framerate = self.fps
        if self._yuv:  # tagged like the input, so that players decode the colours we encoded
            cc.colorspace, cc.color_primaries = self.color.colorspace, self.color.primaries
            cc.color_trc, cc.color_range = self.color.trc, self.color.range
        opts, qscale = codec_options(codec, crf, (options or {}).get("preset"))
        if qscale is not None:
            cc.qscale = True
            cc.global_quality = qscale * 118  # FF_QP2LAMBDA
        if fmt == "avi":
            opts["bf"] = "0"  # AVI stores no presentation timestamps: B-frames would scramble them
        cc.options = {**opts, **(options or {})}
        if rotation % 360:
            vs.set_display_rotation(rotation % 360)
        return vs

    def _note(self, text: str) -> None:
        self.notes.append(text)
        if self._notify is not None:
            self._notify(text)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def size(self) -> tuple[int, int]:
        """Encoded (width, height): the frame size, plus padding for an odd size."""
        return self.width + self._pad[0], self.height + self._pad[1]

    @property
    def copied_streams(self) -> int:
        """Audio/subtitle streams written: copied as they are or converted."""
        return self._passthrough.kept if self._passthrough is not None else 0

    @property
    def converted_streams(self) -> int:
        """Audio/subtitle streams re-encoded or converted because the container cannot hold their codec."""
        return len(self._passthrough.convert) if self._passthrough is not None else 0

    def _mux(self, packets: Iterable[Any]) -> None:
        av = load_av()
        try:
            for packet in packets:
                self._container.mux(packet)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"{self.path}: cannot write ({one_line(e)})") from None

    def _video_frame(self, a: np.ndarray) -> Any:
        """``a`` (RGB, RGBA or grey, see the class) as a PyAV frame in the stream's pixel format and colours."""
        av = load_av()
        if any(self._pad):  # odd size: the last column/row repeated, into a reused buffer
            padded = self._ws.get("pad", (self.height + self._pad[1], self.width + self._pad[0]) + a.shape[2:],
                                  np.uint8)
            a = cv2.copyMakeBorder(np.ascontiguousarray(a), 0, self._pad[1], 0, self._pad[0], cv2.BORDER_REPLICATE,
                                   dst=padded)
        if self._i420:
            # Our own RGB -> I420 (OpenCV) took 0.6-2.3 ms per 1080p frame against 16 ms for PyAV's swscale reformat.
            # Only the intermediates are reused: the I420 array is the frame's own (PyAV may not copy it).
            frame = av.VideoFrame.from_ndarray(rgb_to_i420(a, self.color, matrix=self._matrix, ws=self._ws),
                                               format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format=self._input)
            if self._yuv:
                frame = frame.reformat(format=self._stream.pix_fmt,
                                       dst_colorspace=SWS_CS.get(self.color.colorspace, 5),
                                       dst_color_range=2 if self.color.full_range else 1)
        if self._yuv:
            frame.colorspace, frame.color_range = self.color.colorspace, self.color.range
        return frame

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one uint8 frame (H x W x 3 RGB, or as :attr:`channels` says); ``pts`` in ``time_base`` units
        (default: the next frame slot)."""
        av = load_av()
        if self._container is None:
            raise VideoError(f"{self.path}: writer is closed")
        a = np.asarray(rgb)
        shape = (self.height, self.width) + ((self.channels,) if self.channels > 1 else ())
        if a.shape != shape or a.dtype != np.uint8:
            raise ValueError(f"expected a {'x'.join(map(str, shape))} uint8 frame, got {a.shape} {a.dtype}")
        frame = self._video_frame(a)
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + self._step
        elif self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # encoders need strictly increasing timestamps
        frame.pts, frame.time_base = pts, self.time_base
        self._last_pts = pts
        try:
            packets = self._stream.encode(frame)
        except (av.error.FFmpegError, ValueError) as e:
            raise VideoError(f"{self.path}: cannot encode ({one_line(e)})") from None
        self._mux(packets)
        self.frames += 1

    def copy_packet(self, packet: Any) -> bool:
        """Remux (or convert) a packet of one of ``audio_from``'s audio/subtitle streams; False if not kept."""
        if self._container is None:
            raise VideoError(f"{self.path}: writer is closed")
        packets = self._passthrough.packets(packet) if self._passthrough is not None else None
        if packets is None:
            return False
        self._mux(packets)
        return True

    def close(self) -> None:
        """Flush the encoders, finish the file and rename it to ``path``."""
        if self._container is None:
            return
        av = load_av()
        try:
            try:
                packets = list(self._stream.encode(None))
                if self._passthrough is not None:
                    packets += self._passthrough.flush()
            except (av.error.FFmpegError, ValueError) as e:
                raise VideoError(f"{self.path}: cannot encode ({one_line(e)})") from None
            self._mux(packets)
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError) as e:
                raise VideoError(f"{self.path}: cannot write ({one_line(e)})") from None
            self._container = None
            try:
                os.replace(self._tmp, self.path)
            except OSError as e:
                raise VideoError(f"{self.path}: cannot write ({one_line(e)})") from None
            self._tmp = None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop without writing ``path``: close quietly and delete the temp file."""
        c, self._container = self._container, None
        if c is not None:
            with contextlib.suppress(Exception):  # the file is being thrown away anyway
                c.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
            self._tmp = None
