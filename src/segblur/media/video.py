"""Video files through a :class:`~segblur.runtime.pipeline.Pipeline`, with PyAV (the ``video`` extra).

Every video frame is decoded, processed and re-encoded with its own timestamp (variable frame
rates survive); audio and subtitle streams are copied packet for packet, not re-encoded. The
output is written to a hidden temp file beside the destination and renamed at the end, so a
failure or Ctrl-C never leaves a partial file. Problems are :class:`VideoError` with one line
that names the file.
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

from .images import open_temp

# Output suffix -> FFmpeg muxer (the temp file has no suffix, so the format is named explicitly).
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
DEFAULT_CRF = {"libx264": 23, "libx265": 28, "libvpx-vp9": 32, "libvpx": 10, "libaom-av1": 32, "libsvtav1": 35}
_COPIED = ("audio", "subtitle")  # stream types kept untouched; data/attachment streams are not copied


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


def _reason(e: BaseException) -> str:
    """A short one-line reason from an FFmpeg/OS error."""
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    text = str(text).strip().splitlines()[-1] if str(text).strip() else type(e).__name__
    return text.split("] ", 1)[-1][:200]


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
    copied_streams: int
    seconds: float  # wall-clock processing time
    padded: tuple[int, int] | None = None  # encoded size when an odd size had to be padded for 4:2:0
    # Mean milliseconds per frame of each stage: decode, the pipeline's own stages, pipeline, encode
    # and, when threaded, how long the pipeline waited for the other two.
    stage_ms: dict[str, float] = field(default_factory=dict)

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
        raise VideoError(f"{path}: not a readable video file ({_reason(e)})") from None
    except OSError as e:
        raise VideoError(f"{path}: cannot read ({_reason(e)})") from None


def _video_stream(container: Any, path: Path) -> Any:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams}) or ["none"]
        raise VideoError(f"{path}: no video stream (streams: {', '.join(kinds)})")
    vs = container.streams.video[0]
    if not vs.codec_context.width or not vs.codec_context.height:
        raise VideoError(f"{path}: video stream has no frame size (corrupt file?)")
    return vs


def _rotation(path: Path) -> int:
    """Display rotation (counter-clockwise degrees, a multiple of 90) of the first video frame, 0 if unknown.

    PyAV exposes the display matrix on decoded frames only, so this decodes one frame of a fresh open.
    """
    av = _av()
    try:
        with av.open(str(path), "r") as c:
            for frame in c.decode(video=0):
                return int(round((frame.rotation or 0) / 90)) * 90 % 360
    except (av.error.FFmpegError, OSError, AttributeError):
        pass
    return 0


def probe_video(path: str | Path) -> VideoInfo:
    """Open ``path`` and describe its first video stream (raises :class:`VideoError` for a bad file)."""
    p = Path(path)
    with _open_input(p) as c:
        vs = _video_stream(c, p)
        fps = vs.average_rate or vs.guessed_rate or vs.base_rate or Fraction(25)
        duration = float(vs.duration * vs.time_base) if vs.duration and vs.time_base else \
            (c.duration / 1e6 if c.duration else None)
        frames = vs.frames or (round(duration * fps) if duration else None)
        return VideoInfo(p, vs.codec_context.width, vs.codec_context.height, Fraction(fps), frames or None,
                         duration, sum(s.type in _COPIED for s in c.streams), _rotation(p))


class VideoWriter:
    """Encode RGB frames to a video file, atomically: a temp file in the destination folder, renamed on close.

    ``codec`` defaults to libx264 (libvpx-vp9 for .webm). ``fps`` may be fractional (a
    :class:`~fractions.Fraction`, e.g. 30000/1001). Frames are stamped
    ``0, 1, 2, ...`` in units of ``time_base`` (default ``1/fps``) unless :meth:`write` is given a
    ``pts``. An odd width or height is padded by one edge pixel for 4:2:0/4:2:2 pixel formats.
    ``audio_from`` (an open PyAV input container) adds a copy of each of its audio and subtitle
    streams; feed their packets to :meth:`copy_packet`. ``rotation`` sets the display rotation
    (counter-clockwise degrees). Use as a context manager: an exception aborts (deletes the temp file).
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float | Fraction, *, codec: str | None = None,
                 crf: float | None = 23, pix_fmt: str = "yuv420p", audio_from: Any = None,
                 time_base: Fraction | None = None, rotation: int = 0, options: dict[str, str] | None = None) -> None:
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
        codec = codec or default_codec(self.path)
        self.time_base = Fraction(time_base) if time_base else 1 / fps
        subsampled = pix_fmt.startswith(("yuv420", "yuv422", "nv12", "nv21", "yuvj420", "yuvj422"))
        self._pad = (width % 2 if subsampled else 0, height % 2 if pix_fmt.startswith(("yuv420", "nv", "yuvj420"))
                     else 0)
        self.frames = 0
        self._last_pts: int | None = None
        self._tmp: Path | None = None
        self._container = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self._tmp = open_temp(self.path)
            os.close(fd)
        except OSError as e:
            raise VideoError(f"{self.path}: cannot write ({_reason(e)})") from None
        try:
            self._container = av.open(str(self._tmp), "w", format=fmt)
            vs = self._container.add_stream(codec, rate=fps)
            vs.width, vs.height = width + self._pad[0], height + self._pad[1]
            vs.pix_fmt = pix_fmt
            self._i420 = pix_fmt == "yuv420p"
            vs.time_base = self.time_base
            cc = vs.codec_context
            cc.time_base = self.time_base
            cc.framerate = fps
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
            self._copies: dict[int, Any] = {}
            for s in (audio_from.streams if audio_from is not None else []):
                if s.type in _COPIED:
                    out = self._container.add_stream_from_template(s)
                    out.time_base = s.time_base  # as `ffmpeg -c copy` does: the muxer keeps the packets' clock
                    for key in ("language", "title", "handler_name"):
                        if key in s.metadata:
                            out.metadata[key] = s.metadata[key]
                    self._copies[s.index] = out
            self._source = audio_from
        except (av.error.FFmpegError, ValueError, TypeError, OSError) as e:
            self.abort()
            raise VideoError(f"{self.path}: cannot encode with {codec} ({_reason(e)})") from None

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

    def _mux(self, packets: Any) -> None:
        av = _av()
        try:
            for packet in packets:
                self._container.mux(packet)
        except (av.error.FFmpegError, OSError, ValueError) as e:
            raise VideoError(f"{self.path}: cannot write ({_reason(e)})") from None

    def write(self, rgb: np.ndarray, pts: int | None = None) -> None:
        """Encode one H x W x 3 uint8 RGB frame; ``pts`` in ``time_base`` units (default: the next frame slot)."""
        av = _av()
        if self._container is None:
            raise VideoError(f"{self.path}: writer is closed")
        a = np.asarray(rgb)
        if a.shape != (self.height, self.width, 3) or a.dtype != np.uint8:
            raise ValueError(f"expected a {self.height}x{self.width}x3 uint8 frame, got {a.shape} {a.dtype}")
        if any(self._pad):
            a = np.pad(a, ((0, self._pad[1]), (0, self._pad[0]), (0, 0)), mode="edge")
        if self._i420:
            # OpenCV's RGB -> I420 (the same BT.601 limited-range matrix as FFmpeg's default) took
            # 0.6 ms per 1080p frame against 16 ms for PyAV's swscale reformat.
            yuv = cv2.cvtColor(np.ascontiguousarray(a), cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        else:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(a), format="rgb24")
        if pts is None:
            pts = 0 if self._last_pts is None else self._last_pts + max(1, round(1 / (self.fps * self.time_base)))
        elif self._last_pts is not None and pts <= self._last_pts:
            pts = self._last_pts + 1  # encoders need strictly increasing timestamps
        frame.pts, frame.time_base = pts, self.time_base
        self._last_pts = pts
        try:
            packets = self._stream.encode(frame)
        except (av.error.FFmpegError, ValueError) as e:
            raise VideoError(f"{self.path}: cannot encode ({_reason(e)})") from None
        self._mux(packets)
        self.frames += 1

    def copy_packet(self, packet: Any) -> bool:
        """Remux a packet of one of ``audio_from``'s audio/subtitle streams unchanged; False if not copied."""
        if self._container is None:
            raise VideoError(f"{self.path}: writer is closed")
        out = self._copies.get(packet.stream.index) if packet.stream.container is self._source else None
        if out is None or packet.dts is None or packet.size == 0:  # demuxer's flush packets carry nothing
            return False
        packet.stream = out
        self._mux([packet])
        return True

    def close(self) -> None:
        """Flush the encoder, finish the file and rename it to ``path``."""
        if self._container is None:
            return
        av = _av()
        try:
            try:
                packets = self._stream.encode(None)
            except (av.error.FFmpegError, ValueError) as e:
                raise VideoError(f"{self.path}: cannot encode ({_reason(e)})") from None
            self._mux(packets)
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError) as e:
                raise VideoError(f"{self.path}: cannot write ({_reason(e)})") from None
            self._container = None
            try:
                os.replace(self._tmp, self.path)
            except OSError as e:
                raise VideoError(f"{self.path}: cannot write ({_reason(e)})") from None
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
            raise VideoError(f"{path}: cannot read, truncated or corrupt ({_reason(e)})") from None
        yield packet


def _same_file(a: Path, b: Path) -> bool:
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
                  progress: Any = None, threads: bool = True) -> VideoStats:
    """Run every frame of ``src`` through ``pipeline.process`` and write ``dst`` (same size, rate and timing).

    Audio and subtitle streams are copied unchanged. ``codec`` defaults to :func:`default_codec`,
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
    """
    av = _av()
    src, dst = Path(src), Path(dst)
    if _same_file(src, dst):
        raise VideoError(f"{dst}: is the input file; choose another output")
    codec = codec or default_codec(dst)
    start = time.perf_counter()
    with _open_input(src) as inp:
        vs = _video_stream(inp, src)
        vs.thread_type = "AUTO"
        info_fps = vs.average_rate or vs.guessed_rate or vs.base_rate or Fraction(25)
        tb = vs.time_base or 1 / Fraction(info_fps)
        width, height = vs.codec_context.width, vs.codec_context.height
        rotation = _rotation(src)
        quarter_turns = rotation // 90 % 4
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
                    raise VideoError(f"{src}: corrupt video data ({_reason(e)})") from None
                for frame in frames:
                    rgb = frame.to_ndarray(format="rgb24")
                    if quarter_turns:  # the model sees people upright; the stored orientation is kept
                        rgb = np.rot90(rgb, quarter_turns)
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
            if quarter_turns:
                out = np.rot90(out, -quarter_turns)
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
                         time_base=tb, rotation=rotation, options=options) as writer:
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
                          len(writer._copies), time.perf_counter() - start,
                          writer.size if writer.size != (width, height) else None, stage_ms)


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
