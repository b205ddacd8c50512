"""Video files through a :class:`~segblur.runtime.pipeline.Pipeline`, with PyAV (the ``video`` extra).

Every video frame is decoded, processed and re-encoded with its own timestamp (variable frame
rates survive) in the colours it was decoded with (same YUV matrix, range and colour tags); audio
and subtitle streams are copied packet for packet, not re-encoded, unless the output container
cannot hold their codec: then audio is re-encoded to the container's usual codec and text
subtitles are converted (bitmap subtitles are dropped), each with a note. The output is written
to a hidden temp file beside the destination and renamed at the end, so a failure or Ctrl-C never
leaves a partial file. Problems are :class:`VideoError` with one line that names the file.
"""

from __future__ import annotations

import contextlib
import math
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..io import one_line, open_temp
from ..runtime.workspace import Workspace, scratch

# Output suffix -> FFmpeg muxer (the temp file has no suffix, so the format is named explicitly).
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
DEFAULT_CRF = {"libx264": 23, "libx265": 28, "libvpx-vp9": 32, "libvpx": 10, "libaom-av1": 32, "libsvtav1": 35}
_COPIED = ("audio", "subtitle")  # stream types kept untouched; data/attachment streams are not copied
# Encoders for audio that the output container cannot take as it is, in order of preference.
AUDIO_FALLBACK = {"webm": ("libopus", "opus", "libvorbis"), "mp4": ("aac",), "mov": ("aac",),
                  "matroska": ("aac",), "avi": ("libmp3lame", "mp3")}
# Text subtitle codec of each container (AVI has none: its subtitles are dropped).
SUBTITLE_FALLBACK = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "matroska": "ass"}
# A plain ASS header for text subtitle encoders (mov_text needs one) when the decoder gives none.
_ASS_HEADER = (b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
               b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
               b"Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
               b"Alignment, MarginL, MarginR, MarginV, Encoding\n"
               b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
               b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")


class VideoError(Exception):
    """An input or output video problem; the message is one line naming the file."""


def _av() -> Any:
    try:
        import av
    except ImportError:
        raise VideoError("video support needs PyAV: pip install 'segblur[video]'") from None
    # PyAV leaves FFmpeg's log off by default (segblur reports problems itself, one line per file).
    # Setting a level installs a Python log callback, which can deadlock with frame-threaded decoding.
    return av


def require_av() -> None:
    """Raise :class:`VideoError` (one line, how to install it) unless PyAV can be imported."""
    _av()


def default_codec(path: str | Path) -> str:
    """libvpx-vp9 for .webm (the only video codecs WebM allows are VP8, VP9 and AV1), libx264 otherwise."""
    return "libvpx-vp9" if Path(path).suffix.lower() == ".webm" else "libx264"


def _codec_options(codec: str, crf: float | None, preset: str | None = None) -> tuple[dict[str, str], int | None]:
    """Encoder options for a constant-quality ``crf`` and, for codecs without CRF, a qscale (1..31) to use.

    ``preset`` is the user's x264/x265 preset; without one segblur uses its own speed setting.
    """
    crf = DEFAULT_CRF.get(codec, 23) if crf is None else crf
    q = f"{crf:g}"
    if codec == "libx264" and preset is None:
        # veryfast with subme=1 (superfast's sub-pixel motion search, but veryfast's macroblock-tree
        # rate control): 1080p on 2 loaded cores took 17 instead of 28 ms CPU per frame for 7 %
        # more bits and -0.15 dB PSNR; superfast itself needed 1.8x the bits at the same CRF.
        # veryfast was already half the time of x264's "medium", which alone was slower than the pipeline.
        return {"crf": q, "preset": "veryfast", "x264-params": "subme=1"}, None
    if codec in ("libx264", "libx265"):
        return {"crf": q, "preset": preset or "veryfast"}, None
    if codec in ("libvpx-vp9", "libvpx", "libaom-av1"):
        # Constant quality needs b=0 (VP8 needs a cap); cpu-used 4 and row-mt keep VP9 near x264's speed.
        opts = {"crf": q, "b": "0" if codec != "libvpx" else "4M", "row-mt": "1"}
        if codec != "libaom-av1":
            opts.update({"deadline": "good", "cpu-used": "4"})
        return opts, None
    if codec == "libsvtav1":
        return {"crf": q}, None
    # mpeg4, mjpeg, ...: fixed quantiser scaled from the CRF (23 -> 4, a good quality).
    return {}, int(min(31, max(1, round(crf / 6))))


# FFmpeg's AVColorSpace -> (Kr, Kb) of the YUV matrix; anything else (2 = unspecified) is decoded as BT.601.
_KR_KB = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114), 7: (0.212, 0.087),
          9: (0.2627, 0.0593), 10: (0.2627, 0.0593)}
# AVColorSpace -> swscale's SWS_CS_* (for FFmpeg's own conversion of other pixel formats).
_SWS_CS = {1: 1, 4: 4, 5: 5, 6: 5, 7: 7, 9: 9, 10: 9}


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
        kr, kb = _KR_KB.get(self.colorspace, _KR_KB[5])
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
    if not color.full_range and _KR_KB.get(color.colorspace, _KR_KB[5]) == _KR_KB[5]:
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


@dataclass
class VideoStats:
    """What :func:`process_video` did."""

    src: Path
    dst: Path
    frames: int
    width: int
    height: int
    fps: Fraction
    duration: float  # seconds, first frame's start to the last frame's end
    copied_streams: int  # audio and subtitle streams kept, copied or converted
    seconds: float  # wall-clock processing time
    padded: tuple[int, int] | None = None  # encoded size when an odd size had to be padded for 4:2:0
    # Mean milliseconds per frame of each stage: decode, the pipeline's own stages, pipeline, encode
    # and, when threaded, how long the pipeline waited for the other two.
    stage_ms: dict[str, float] = field(default_factory=dict)
    converted_streams: int = 0  # of the kept streams: re-encoded or converted for the output container
    notes: list[str] = field(default_factory=list)  # one line per converted or dropped stream

    @property
    def rate(self) -> float:
        """Frames processed per second of wall-clock time."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


def _open_input(path: Path) -> Any:
    av = _av()
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


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(f"{path}: no video stream (streams: {', '.join(kinds)})")
    vs = container.streams.video[0]
    if not vs.codec_context.width or not vs.codec_context.height:
        raise VideoError(f"{path}: video stream has no frame size (corrupt file?)")
    return vs


def stream_rate(vs: Any, default: Fraction | None = Fraction(25)) -> Fraction | None:
    """A PyAV video stream's frame rate: average, else guessed, else base rate, else ``default``."""
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    return Fraction(rate) if rate else default


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
    av = _av()
    try:
        with av.open(str(path), "r") as c:
            return _frame_tags(c.decode(video=0), av)
    except (av.error.FFmpegError, OSError):
        return 0, UNTAGGED


def probe_video(path: str | Path) -> VideoInfo:
    """Open ``path`` and describe its first video stream (raises :class:`VideoError` for a bad file).

    The first frame is decoded for its rotation and colour tags; pass the result to :func:`process_video`
    as ``info`` so it need not be probed again.
    """
    p = Path(path)
    with _open_input(p) as c:
        vs = _video_stream(c, p)
        fps = stream_rate(vs)
        duration = float(vs.duration * vs.time_base) if vs.duration and vs.time_base else \
            (c.duration / 1e6 if c.duration else None)
        frames = vs.frames or (round(duration * fps) if duration else None)
        copied = sum(s.type in _COPIED for s in c.streams)
        return VideoInfo(p, vs.codec_context.width, vs.codec_context.height, fps, frames or None,
                         duration, copied, *_frame_tags(c.decode(vs), _av()))


def _stream_label(stream: Any) -> str:
    name = getattr(getattr(stream, "codec_context", None), "name", None) or "unknown codec"
    return f"{stream.type} stream #{stream.index} ({name})"


def _copy_metadata(src: Any, out: Any) -> None:
    for key in ("language", "title", "handler_name"):
        if key in src.metadata:
            out.metadata[key] = src.metadata[key]


class _AudioConverter:
    """Re-encodes one input audio stream, keeping its timestamps, for a container that cannot hold its codec."""

    def __init__(self, container: Any, stream: Any, codec: str, rate: int, layout: str, fmt: str) -> None:
        self.stream = stream
        self.out = container.add_stream(codec, rate=rate)
        cc = self.out.codec_context
        cc.layout, cc.format = layout, fmt
        cc.time_base = self.out.time_base = Fraction(1, rate)
        cc.bit_rate = min(320_000, 96_000 * max(1, cc.channels))  # transparent for AAC, Opus and MP3
        _copy_metadata(stream, self.out)

    @staticmethod
    def settings(stream: Any, codec: str) -> tuple[int, str, str] | None:
        """(rate, layout, sample format) with which ``codec`` opens for ``stream``'s audio, or None."""
        import av

        try:
            enc, cc_in = av.Codec(codec, "w"), stream.codec_context
            cc_in.open(strict=False)  # fails here when the input cannot be decoded at all
        except (av.error.FFmpegError, ValueError):
            return None
        rate_in = cc_in.sample_rate or 48000
        rates = sorted(enc.audio_rates or [rate_in])
        rate = rate_in if rate_in in rates else next((r for r in rates if r >= rate_in), rates[-1])
        channels = cc_in.channels or 2
        layout = cc_in.layout.name if cc_in.channels and (channels <= 2 or "mp3" not in codec) else "stereo"
        fmts = [f.name for f in enc.audio_formats or []]
        fmt = next((f for f in ("fltp", "flt", "s16p", "s16") if f in fmts), fmts[0] if fmts else "fltp")
        try:
            trial = av.CodecContext.create(codec, "w")
            trial.sample_rate, trial.layout, trial.format = rate, layout, fmt
            trial.time_base = Fraction(1, rate)
            trial.open()
        except (av.error.FFmpegError, ValueError):
            return None
        return rate, layout, fmt

    def feed(self, packet: Any) -> list[Any]:
        """The encoded packets for one input packet (a damaged packet is skipped, as players do)."""
        import av

        try:
            frames = self.stream.codec_context.decode(packet)
        except (av.error.FFmpegError, ValueError):
            return []
        return [p for f in frames for p in self.out.encode(f)]

    def flush(self) -> list[Any]:
        import av

        try:
            frames = self.stream.codec_context.decode(None)
        except (av.error.FFmpegError, ValueError):
            frames = []
        return [p for f in frames for p in self.out.encode(f)] + list(self.out.encode(None))


class _SubtitleConverter:
    """Converts one input text subtitle stream to the container's text subtitle codec, keeping each cue's timing."""

    def __init__(self, container: Any, stream: Any, codec: str, header: bytes) -> None:
        self.stream = stream
        self.out = container.add_stream(codec)
        tb = stream.time_base or Fraction(1, 1000)
        self.out.time_base = self.out.codec_context.time_base = tb
        self.out.codec_context.subtitle_header = header
        _copy_metadata(stream, self.out)

    @staticmethod
    def header(stream: Any, codec: str) -> bytes | None:
        """The ASS header to encode ``stream``'s text subtitles with ``codec``, or None if they cannot be."""
        import av

        try:
            enc, cc_in = av.Codec(codec, "w"), stream.codec_context
            if not cc_in.codec.text_sub:
                return None  # bitmap subtitles (DVD, PGS) cannot become text
            cc_in.open(strict=False)
            header = cc_in.subtitle_header or _ASS_HEADER
            trial = av.CodecContext.create(enc, "w")
            trial.subtitle_header = header
            trial.time_base = stream.time_base or Fraction(1, 1000)
            trial.open()
        except (av.error.FFmpegError, ValueError, AttributeError):
            return None
        return header

    def feed(self, packet: Any) -> list[Any]:
        """The converted packet of one cue (none for an empty or undecodable one)."""
        import av
        from av.subtitles.subtitle import SubtitleSet

        try:
            subs = self.stream.codec_context.decode2(packet)
        except (av.error.FFmpegError, ValueError):
            return []
        texts = []
        for rect in subs or ():
            parts = (getattr(rect, "ass", b"") or b"").split(b",", 8)
            if len(parts) == 9:  # an ASS event: ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text
                prefix, text = parts[:8], parts[8]
            else:
                prefix, text = [b"0", b"0", b"Default", b"", b"0", b"0", b"0", b""], getattr(rect, "text", b"")
            if text:
                texts.append((prefix, text))
        if not texts or packet.pts is None:
            return []
        line = b",".join(texts[0][0]) + b"," + b"\\N".join(t for _, t in texts)
        start = (subs.start_display_time or 0) / 1000
        end = (packet.duration * packet.time_base) if packet.duration else (subs.end_display_time or 0) / 1000
        tb = self.out.time_base
        pts = round((packet.pts * packet.time_base + Fraction(start)) / tb)
        duration = max(1, round(Fraction(end) / tb - Fraction(start) / tb))
        out = self.out.codec_context.encode_subtitle(SubtitleSet.create(line, 0, duration, pts=pts))
        out.stream, out.time_base = self.out, tb
        return [out]


class VideoWriter:
    """Encode RGB frames to a video file, atomically: a temp file in the destination folder, renamed on close.

    ``codec`` defaults to libx264 (libvpx-vp9 for .webm). ``fps`` may be fractional (a
    :class:`~fractions.Fraction`, e.g. 30000/1001). Frames are stamped
    ``0, 1, 2, ...`` in units of ``time_base`` (default ``1/fps``) unless :meth:`write` is given a
    ``pts``. An odd width or height is padded by one edge pixel for 4:2:0/4:2:2 pixel formats.
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
        av = _av()
        self.path = Path(path)
        fmt = CONTAINERS.get(self.path.suffix.lower())
        if fmt is None:
            raise VideoError(f"{self.path}: cannot write '{self.path.suffix}' video "
                             f"(use one of {', '.join(CONTAINERS)})")
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
        self.time_base = Fraction(time_base) if time_base else 1 / fps
        self._step = max(1, round(1 / (fps * self.time_base)))  # pts units from one frame slot to the next
        subsampled = pix_fmt.startswith(("yuv420", "yuv422", "nv12", "nv21", "yuvj420", "yuvj422"))
        self._pad = (width % 2 if subsampled else 0, height % 2 if pix_fmt.startswith(("yuv420", "nv", "yuvj420"))
                     else 0)
        self.frames = 0
        self.notes: list[str] = []
        self._notify = notify
        self._last_pts: int | None = None
        self._tmp: Path | None = None
        self._container = None
        self._remux: dict[int, Any] = {}
        self._convert: dict[int, _AudioConverter | _SubtitleConverter] = {}
        self._source = audio_from
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = open_temp(self.path)
            os.close(fd)
        except OSError as e:
            raise VideoError(f"{self.path}: cannot write ({one_line(e)})") from None
        try:
            self._container = av.open(str(self._tmp), "w", format=fmt)
            vs = self._container.add_stream(codec, rate=fps)
            vs.width, vs.height = width + self._pad[0], height + self._pad[1]
            vs.pix_fmt = pix_fmt
            self._i420 = pix_fmt == "yuv420p"
            self._yuv = pix_fmt.startswith(("yuv", "nv"))
            vs.time_base = self.time_base
            cc = vs.codec_context
            cc.time_base = self.time_base
            cc.framerate = fps
            if self._yuv:  # tagged like the input, so that players decode the colours we encoded
                cc.colorspace, cc.color_primaries = self.color.colorspace, self.color.primaries
                cc.color_trc, cc.color_range = self.color.trc, self.color.range
            opts, qscale = _codec_options(codec, crf, (options or {}).get("preset"))
            if qscale is not None:
                cc.qscale = True
                cc.global_quality = qscale * 118  # FF_QP2LAMBDA
            if fmt == "avi":
                opts["bf"] = "0"  # AVI stores no presentation timestamps: B-frames would scramble them
            cc.options = {**opts, **(options or {})}
            if rotation % 360:
                vs.set_display_rotation(rotation % 360)
            self._stream = vs
        except (av.error.FFmpegError, ValueError, TypeError, OSError) as e:
            self.abort()
            raise VideoError(f"{self.path}: cannot encode with {codec} ({one_line(e)})") from None
        try:
            for s in (audio_from.streams if audio_from is not None else []):
                if s.type in _COPIED:
                    self._keep(s, fmt)
        except (av.error.FFmpegError, OSError) as e:
            self.abort()
            raise VideoError(f"{self.path}: cannot write ({one_line(e)})") from None

    def _note(self, text: str) -> None:
        self.notes.append(text)
        if self._notify is not None:
            self._notify(text)

    def _keep(self, s: Any, fmt: str) -> None:
        """Add a copy of input stream ``s``; if the container cannot hold its codec, a converted one, or none."""
        try:
            out = self._container.add_stream_from_template(s)
        except ValueError:  # "'webm' format does not support 'aac' codec"; checked before anything is written
            out = None
        if out is not None:
            out.time_base = s.time_base  # as `ffmpeg -c copy` does: the muxer keeps the packets' clock
            _copy_metadata(s, out)
            self._remux[s.index] = out
            return
        where, what = f"{self._source.name}: {_stream_label(s)}", f"cannot be stored in {self.path.suffix}"
        if s.type == "audio":
            for codec in AUDIO_FALLBACK.get(fmt, ()):
                settings = _AudioConverter.settings(s, codec)
                if settings is not None:
                    try:
                        self._convert[s.index] = _AudioConverter(self._container, s, codec, *settings)
                    except ValueError:
                        continue
                    self._note(f"{where} {what}; re-encoding it to {codec}")
                    return
        else:
            codec = SUBTITLE_FALLBACK.get(fmt)
            header = _SubtitleConverter.header(s, codec) if codec else None
            if header is not None:
                with contextlib.suppress(ValueError):
                    self._convert[s.index] = _SubtitleConverter(self._container, s, codec, header)
                    self._note(f"{where} {what}; converting it to {codec}")
                    return
        self._note(f"warning: {where} {what} and cannot be converted; left out")

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
        return len(self._remux) + len(self._convert)

    @property
    def converted_streams(self) -> int:
        """Audio/subtitle streams re-encoded or converted because the container cannot hold their codec."""
        return len(self._convert)

    def _mux(self, packets: Any) -> None:
        av = _av()
        try:
            for packet in packets:
                self._container.mux(packet)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"{self.path}: cannot write ({one_line(e)})") from None

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one H x W x 3 uint8 RGB frame; ``pts`` in ``time_base`` units (default: the next frame slot)."""
        av = _av()
        if self._container is None:
            raise VideoError(f"{self.path}: writer is closed")
        a = np.asarray(rgb)
        if a.shape != (self.height, self.width, 3) or a.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width}x3 uint8 frame, got {a.shape} {a.dtype}")
        if any(self._pad):  # odd size: the last column/row repeated, into a reused buffer
            padded = self._ws.get("pad", (self.height + self._pad[1], self.width + self._pad[0], 3), np.uint8)
            a = cv2.copyMakeBorder(np.ascontiguousarray(a), 0, self._pad[1], 0, self._pad[0], cv2.BORDER_REPLICATE,
                                   dst=padded)
        if self._i420:
            # Our own RGB -> I420 (OpenCV) took 0.6-2.3 ms per 1080p frame against 16 ms for PyAV's swscale reformat.
            # Only the intermediates are reused: the I420 array is the frame's own (PyAV may not copy it).
            frame = av.VideoFrame.from_ndarray(rgb_to_i420(a, self.color, matrix=self._matrix, ws=self._ws),
                                               format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
            if self._yuv:
                frame = frame.reformat(format=self._stream.pix_fmt,
                                       dst_colorspace=_SWS_CS.get(self.color.colorspace, 5),
                                       dst_color_range=2 if self.color.full_range else 1)
        if self._yuv:
            frame.colorspace, frame.color_range = self.color.colorspace, self.color.range
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
        av = _av()
        if self._container is None:
            raise VideoError(f"{self.path}: writer is closed")
        index = packet.stream.index if packet.stream.container is self._source else None
        if packet.dts is None or packet.size == 0:  # demuxer's flush packets carry nothing
            return False
        out = self._remux.get(index)
        if out is not None:
            packet.stream = out
            self._mux([packet])
            return True
        conv = self._convert.get(index)
        if conv is None:
            return False
        try:
            packets = conv.feed(packet)
        except (av.error.FFmpegError, ValueError) as e:
            raise VideoError(f"{self.path}: cannot encode {conv.out.type} ({one_line(e)})") from None
        self._mux(packets)
        return True

    def close(self) -> None:
        """Flush the encoders, finish the file and rename it to ``path``."""
        if self._container is None:
            return
        av = _av()
        try:
            try:
                packets = list(self._stream.encode(None))
                for conv in self._convert.values():
                    if isinstance(conv, _AudioConverter):
                        packets += conv.flush()
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


def _packets(container: Any, path: Path) -> Iterator[Any]:
    """Demux every stream, turning read errors into :class:`VideoError` naming ``path``."""
    av = _av()
    it = container.demux()
    while True:
        try:
            packet = next(it)
        except StopIteration:
            return
        except (av.error.FFmpegError, OSError) as e:
            raise VideoError(f"{path}: cannot read, truncated or corrupt ({one_line(e)})") from None
        yield packet


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


_QUEUE = 3  # frames waiting between two stages: enough to absorb jitter, little memory (6 MB per 1080p frame)
_POLL = 0.05  # seconds between looks at the stop flag while a queue is full or empty
_JOIN = 10.0  # seconds to wait for the worker threads after a failure (they stop within one frame)
_DONE = object()  # end of stream, passed down the queues


class _AbortError(Exception):
    """Raised inside a stage when another stage has failed: the run is being torn down."""


class _Stage(threading.Thread):
    """A daemon thread running ``work()``; its exception is kept for the caller's thread to re-raise."""

    def __init__(self, name: str, work: Callable[[], None], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.work, self.stop, self.error = work, stop, None

    def run(self) -> None:
        try:
            self.work()
        except _AbortError:
            pass
        except BaseException as e:  # KeyboardInterrupt too: the caller's thread re-raises it
            self.error = e
            self.stop.set()


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> None:
    """``q.put(item)``, giving up with :class:`_AbortError` once ``stop`` is set."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL)
            return
        except queue.Full:
            pass
    raise _AbortError


def _get(q: queue.Queue, stop: threading.Event) -> Any:
    """``q.get()``, giving up with :class:`_AbortError` once ``stop`` is set."""
    while not stop.is_set():
        try:
            return q.get(timeout=_POLL)
        except queue.Empty:
            pass
    raise _AbortError


def _join(workers: list[_Stage]) -> None:
    """Wait (up to ``_JOIN`` seconds) for the stopped workers before their files are closed, even through Ctrl-C."""
    deadline, interrupted = time.monotonic() + _JOIN, None
    for w in workers:
        while w.is_alive() and time.monotonic() < deadline:
            try:
                w.join(_POLL)
            except KeyboardInterrupt as e:  # a second Ctrl-C: finish stopping first, then raise it
                interrupted = e
    if interrupted is not None:
        raise interrupted


@dataclass
class _Frame:
    """A decoded frame on its way through the stages (``pixels`` is RGB, then the processed RGB)."""

    pixels: np.ndarray
    pts: int | None
    time: float  # seconds
    duration: float  # seconds


def process_video(src: str | Path, dst: str | Path, pipeline: Any, *, codec: str | None = None,
                  crf: float | None = None, pix_fmt: str = "yuv420p", options: dict[str, str] | None = None,
                  progress: Any = None, threads: bool = True,
                  notify: Callable[[str], None] | None = None, info: VideoInfo | None = None) -> VideoStats:
    """Run every frame of ``src`` through ``pipeline.process`` and write ``dst`` (same size, rate and timing).

    Audio and subtitle streams are copied unchanged; one the output container cannot hold is
    re-encoded or converted (or left out) with a line to ``notify`` before the first frame.
    Frames are re-encoded with the YUV matrix and range they were decoded with, and tagged like
    the input, so that untouched pixels keep their colour. ``codec`` defaults to :func:`default_codec`,
    ``crf`` to the codec's usual default; ``options`` are extra encoder options (e.g. ``{"preset":
    "slow"}``). ``progress`` (e.g. a :class:`~segblur.progress.Progress`) gets ``update()`` per
    frame. The pipeline's temporal state is reset first. Raises :class:`VideoError` for a bad
    input or output; ``dst`` is never left half-written.

    With ``threads`` (the default) decoding and encoding run in two daemon threads beside the
    pipeline, which runs in the calling thread; frames pass through small bounded queues in order.
    An error or Ctrl-C in any stage stops all three and is raised here as it was raised there.
    ``pipeline.process`` must return a new array (as :class:`~segblur.runtime.pipeline.Pipeline`
    does), since the encoder still reads it while the next frame is processed.
    ``threads=False`` runs the three stages one after the other (for comparison and debugging).
    ``info``, :func:`probe_video`'s result for ``src``, saves probing the first frame again.
    """
    av = _av()
    src, dst = Path(src), Path(dst)
    if same_file(src, dst):
        raise VideoError(f"{dst}: is the input file; choose another output")
    codec = codec or default_codec(dst)
    start = time.perf_counter()
    with _open_input(src) as inp:
        vs = _video_stream(inp, src)
        vs.thread_type = "AUTO"
        info_fps = info.fps if info is not None else stream_rate(vs)
        tb = vs.time_base or 1 / Fraction(info_fps)
        width, height = vs.codec_context.width, vs.codec_context.height
        rotation, color = (info.rotation, info.color) if info is not None else _first_frame(src)
        index_timeline = CONTAINERS.get(dst.suffix.lower()) == "avi"
        pipeline.reset()
        clock = dict.fromkeys(("decode", "pipeline", "encode", "waiting"), 0.0)  # seconds, each one thread's own
        parts: dict[str, float] = {}  # the pipeline's own stages, summed from its last_timings (ms)
        stream_end = 0.0

        def decoded() -> Iterator[tuple[list[Any], _Frame | None]]:
            """(audio/subtitle packets to copy first, next decoded frame or None at the end), in file order."""
            nonlocal stream_end
            copied: list[Any] = []
            n = 0
            t0 = time.perf_counter()
            for packet in _packets(inp, src):
                if packet.pts is not None and packet.time_base:
                    stream_end = max(stream_end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
                if packet.stream.index != vs.index:
                    copied.append(packet)
                    continue
                try:
                    frames = packet.decode()
                except (av.error.FFmpegError, OSError) as e:
                    raise VideoError(f"{src}: corrupt video data ({one_line(e)})") from None
                for frame in frames:
                    rgb = upright(frame.to_ndarray(format="rgb24"), rotation)  # the stored orientation is kept
                    t = float(frame.pts * tb) if frame.pts is not None else n / float(info_fps)
                    dur = float(frame.duration * tb) if frame.duration else 1 / float(info_fps)
                    clock["decode"] += time.perf_counter() - t0
                    yield copied, _Frame(rgb, frame.pts, t, dur)
                    t0 = time.perf_counter()
                    copied, n = [], n + 1
            clock["decode"] += time.perf_counter() - t0
            yield copied, None

        def process(frame: _Frame) -> _Frame:
            t0 = time.perf_counter()
            out = pipeline.process(frame.pixels)
            clock["pipeline"] += time.perf_counter() - t0
            for k, v in (getattr(pipeline, "last_timings", None) or {}).items():
                parts[k] = parts.get(k, 0.0) + v
            if rotation:
                out = np.rot90(out, -(rotation // 90))
            return _Frame(out, frame.pts, frame.time, frame.duration)

        def encode(copied: list[Any], frame: _Frame | None) -> None:
            t0 = time.perf_counter()
            for packet in copied:
                writer.copy_packet(packet)
            if frame is not None:
                # AVI has no presentation timestamps (frame i is shown at i / fps): number the frames.
                writer.write(frame.pixels, pts=None if index_timeline else frame.pts)
            clock["encode"] += time.perf_counter() - t0

        frames, first, last_end = 0, None, 0.0
        with VideoWriter(dst, width, height, info_fps, codec=codec, crf=crf, pix_fmt=pix_fmt, audio_from=inp,
                         time_base=tb, rotation=rotation, options=options, color=color, notify=notify) as writer:
            stages = _threaded(decoded, process, encode, clock) if threads else \
                ((copied, frame if frame is None else process(frame)) for copied, frame in decoded())
            # closing: on any exception the threads stop before the writer and the input are closed.
            with contextlib.closing(stages):
                for copied, frame in stages:
                    if frame is not None:
                        first = frame.time if first is None else first
                        last_end = max(last_end, frame.time + frame.duration)
                        frames += 1
                        if progress is not None:
                            progress.update()
                    if not threads:
                        encode(copied, frame)
            if frames == 0:
                raise VideoError(f"{src}: no video frames could be decoded (truncated or corrupt)")
            _check_complete(inp, src, max(stream_end, last_end), info_fps)
        stage_ms = {"decode": clock["decode"] * 1e3 / frames}
        stage_ms.update({k: v / frames for k, v in parts.items() if k != "total"})
        stage_ms.update({"pipeline": clock["pipeline"] * 1e3 / frames, "encode": clock["encode"] * 1e3 / frames})
        if threads:
            stage_ms["pipeline waiting"] = clock["waiting"] * 1e3 / frames
        return VideoStats(src, dst, frames, width, height, Fraction(info_fps), last_end - (first or 0.0),
                          writer.copied_streams, time.perf_counter() - start,
                          writer.size if writer.size != (width, height) else None, stage_ms,
                          writer.converted_streams, list(writer.notes))


def _threaded(decoded: Callable[[], Iterator[tuple[list[Any], _Frame | None]]],
              process: Callable[[_Frame], _Frame], encode: Callable[[list[Any], _Frame | None], None],
              clock: dict[str, float]) -> Iterator[tuple[list[Any], _Frame | None]]:
    """Decode thread -> ``process`` in this thread -> encode thread; yields each item once it is queued for encoding.

    Every exit (end of stream, an error in any stage, KeyboardInterrupt, the caller closing the
    generator) stops both threads and waits for them, so the caller may close the files.
    """
    stop = threading.Event()
    to_pipeline: queue.Queue = queue.Queue(maxsize=_QUEUE)
    to_encoder: queue.Queue = queue.Queue(maxsize=_QUEUE)

    def read() -> None:
        for item in decoded():
            _put(to_pipeline, item, stop)
        _put(to_pipeline, _DONE, stop)

    def write() -> None:
        while (item := _get(to_encoder, stop)) is not _DONE:
            encode(*item)

    workers = [_Stage("segblur-video-decode", read, stop), _Stage("segblur-video-encode", write, stop)]
    try:
        for w in workers:  # inside the try: a Ctrl-C while the second one starts must stop the first
            w.start()
        while True:
            t0 = time.perf_counter()
            item = _get(to_pipeline, stop)
            clock["waiting"] += time.perf_counter() - t0
            if item is _DONE:
                break
            copied, frame = item
            item = (copied, frame if frame is None else process(frame))
            t0 = time.perf_counter()
            _put(to_encoder, item, stop)
            clock["waiting"] += time.perf_counter() - t0
            yield item
        _put(to_encoder, _DONE, stop)
        while workers[1].is_alive():  # in small steps, so that Ctrl-C gets through
            workers[1].join(_POLL)
    except _AbortError:
        pass  # a worker failed: its error is raised below
    finally:
        stop.set()
        _join(workers)
    for w in workers:
        if w.error is not None:
            raise w.error


def _check_complete(container: Any, path: Path, end: float, fps: Fraction) -> None:
    """Raise if the streams stop well before the duration the header promises (a truncated download/copy)."""
    if not container.duration:
        return
    expected = (container.duration + (container.start_time or 0)) / 1e6
    slack = max(0.5, 2 / float(fps))
    if math.isfinite(expected) and end < expected - slack:
        raise VideoError(f"{path}: truncated (data ends at {end:.2f} s of {expected:.2f} s)")


def check_codec(name: str) -> None:
    """Raise :class:`VideoError` unless ``name`` is a video encoder this FFmpeg build has."""
    av = _av()
    try:
        codec = av.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        codec = None
    if codec is None or codec.type != "video":
        raise VideoError(f"no video encoder {name!r} in this FFmpeg build (try libx264, libvpx-vp9 or mpeg4)")
