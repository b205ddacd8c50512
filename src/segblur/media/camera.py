"""Live streams: frame sources (camera, video file, URL), a threaded capture -> inference -> output loop, statistics.

Capture, inference and output run in three threads joined by small mailboxes::

    capture thread --(latest-frame slot)--> inference thread --(queue of 1)--> caller's thread: sinks

The slot holds one frame: a new frame replaces one that was not picked up yet (the stale frame is
dropped and counted), so a slow model lowers the frame rate instead of building up delay, and the
latency from capture to output stays at one or two frames. ONNX Runtime, OpenCV and numpy release
the GIL, so the threads overlap. Sinks (preview window, virtual camera, recorder) run in the
calling thread, which is the one a GUI toolkit needs. This module never imports torch.
"""

from __future__ import annotations

import math
import queue
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from ..io import one_line
from .video import frame_rotation, stream_rate, upright

LOST_AFTER_S = 2.0  # a live source that gives no frame for this long is considered gone
HISTORY = 100_000  # per-frame timings kept for the final percentiles (the most recent ones)
LIVE = 30  # recent frames the live figures (overlay, progress line) are medians over
RECORD_TIME_BASE = Fraction(1, 90_000)  # recordings are stamped with capture times in this unit


class SourceError(Exception):
    """A source that cannot be opened at all (one line naming it)."""


class SourceLostError(Exception):
    """A source that stopped delivering frames mid-stream (camera unplugged, stream cut, file damaged)."""


class SinkError(Exception):
    """An output that cannot be set up (no GUI for the preview, no virtual camera device, bad record path)."""


class FrameSource(Protocol):
    """Where frames come from. ``read`` blocks until the next RGB uint8 frame; None means the stream has ended."""

    name: str
    width: int
    height: int
    fps: Fraction

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class FrameSink(Protocol):
    """Where processed frames go; ``index`` is the frame's capture number (gaps are dropped frames).

    ``captured`` is when the source delivered the frame (``time.perf_counter()``).
    """

    def send(self, rgb: np.ndarray, index: int, captured: float) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class Interactive(Protocol):
    """A sink with a window: shows status text (lines split by newlines) and reports key presses (``media.preview``)."""

    def set_status(self, text: str) -> None: ...

    def poll_key(self) -> int | None: ...


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
        self._first: np.ndarray | None = frame
        self.height, self.width = frame.shape[:2]
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
    end of the media is the end of the stream; a decoding or network error mid-stream is
    :class:`SourceLostError`.
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
        if not self._container.streams.video:
            self._container.close()
            raise SourceError(f"{self.name}: has no video stream")
        stream = self._container.streams.video[0]
        stream.thread_type = "SLICE"  # frame threading would hold back a frame per thread (latency)
        self.fps = as_fraction(fps or stream_rate(stream, default=None))
        self._fixed_rate = fps is not None
        live = url and self._container.duration is None
        self._pacer = _Pacer() if realtime and not live else None
        self._frames = self._container.decode(stream)
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

    def read(self) -> np.ndarray | None:
        """The next frame (RGB), upright and at ``width`` x ``height``, after waiting for its time when paced.

        None at the end of the media.
        """
        frame, self._first = self._first, None
        try:
            frame = frame if frame is not None else next(self._frames)
        except StopIteration:
            return None
        except (self._av_error, OSError) as e:
            raise SourceLostError(f"{self.name}: stream broke off after {self._count} frames ({one_line(e)})") from None
        if self._pacer is not None:
            t = frame.time if frame.time is not None and not self._fixed_rate else None
            self._pacer.wait(float(self._count / self.fps) if t is None else t)
        self._count += 1
        return np.ascontiguousarray(fit_frame(upright(frame.to_ndarray(format="rgb24"), self.rotation),
                                              self.width, self.height))

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
    :class:`SourceError` with one line naming the source when it cannot be opened.
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
    return AvSource(text, fps=fps, realtime=realtime, size=size)


def fit_frame(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """``rgb`` resized to width x height if it is not that size already (outputs and sources with a fixed size).

    Shrinking averages pixels (area), enlarging interpolates (linear)."""
    if rgb.shape[1] == width and rgb.shape[0] == height:
        return rgb
    shrink = width * height < rgb.shape[0] * rgb.shape[1]
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


class NullSink:
    """Discards frames (headless runs that only measure); counts them."""

    def __init__(self) -> None:
        self.frames = 0

    def send(self, rgb: np.ndarray, index: int, captured: float = 0.0) -> None:
        self.frames += 1

    def close(self) -> None:
        pass


class RecordSink:
    """Records the shown frames with ``media.video.VideoWriter``, timed by when they were captured.

    Each frame is stamped with its capture time relative to the first one (in units of
    :data:`RECORD_TIME_BASE`), not with a frame count at the rate the source claims, so a camera
    that delivers fewer frames than it announces, or a frame dropped upstream (the previous one
    stays on screen), still records in real time. AVI stores no timestamps: there each frame takes
    the slot of ``1 / fps`` its capture time falls in. ``fps`` is the nominal rate written in the
    file. ``close`` finalises the file (atomic rename); ``abort`` deletes it.
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: Fraction, **options: Any) -> None:
        from .video import VideoError, VideoWriter

        self.path = Path(path)
        self.width, self.height = width, height
        tb = 1 / as_fraction(fps) if self.path.suffix.lower() == ".avi" else RECORD_TIME_BASE
        try:
            self._writer = VideoWriter(self.path, width, height, fps, time_base=tb, **options)
        except VideoError as e:
            raise SinkError(str(e)) from None
        self.frames = 0
        self._first: float | None = None

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


STAGES = ("wait", "segment", "refine", "effect", "compose", "output")
LIVE_STAGES = STAGES[1:-1]  # the pipeline's own stages, shown live


@dataclass
class StreamStats:
    """Counts and per-frame milliseconds of one stream. ``captured == shown + dropped`` once it has ended.

    Stages: ``wait`` (frame age when inference takes it), the pipeline's own stages, ``output``
    (inference end to all sinks done); ``latency`` is capture to output end.
    """

    captured: int = 0
    shown: int = 0
    dropped: int = 0
    stale: int = 0  # of the dropped: replaced by a newer frame before inference took them
    ended: str = ""  # frames | end | quit | lost | interrupted
    message: str = ""  # why the source was lost
    first_output: float | None = None
    last_output: float | None = None
    times: dict[str, deque[float]] = field(default_factory=dict)
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=LIVE))  # output times, for the live fps

    def add(self, name: str, ms: float) -> None:
        self.times.setdefault(name, deque(maxlen=HISTORY)).append(ms)

    def fps(self) -> float:
        """Frames shown per second, from the first to the last output."""
        if self.first_output is None or self.last_output is None or self.shown < 2:
            return 0.0
        return (self.shown - 1) / max(self.last_output - self.first_output, 1e-9)

    def live_fps(self) -> float:
        """Frames per second over the last LIVE outputs."""
        if len(self.recent) < 2:
            return 0.0
        return (len(self.recent) - 1) / max(self.recent[-1] - self.recent[0], 1e-9)

    def percentile(self, name: str, q: float) -> float:
        """The ``q``-th percentile (0..100) of a stage's milliseconds; NaN when there is none."""
        values = self.times.get(name)
        return float(np.percentile(np.fromiter(values, float), q)) if values else float("nan")

    def medians(self) -> dict[str, float]:
        """Median milliseconds of every stage seen, in pipeline order."""
        order = [s for s in STAGES if s in self.times] + [s for s in self.times if s not in STAGES]
        return {s: statistics.median(self.times[s]) for s in order if s != "latency" and self.times[s]}

    def recent_median(self, name: str, n: int = LIVE) -> float:
        """Median milliseconds of a stage over its last ``n`` frames; NaN when there is none."""
        values = self.times.get(name)
        if not values:
            return float("nan")
        return statistics.median(values[i] for i in range(max(0, len(values) - n), len(values)))

    def live_stages(self) -> dict[str, float]:
        """Median ms over the recent frames of segment, refine, effect, compose and ``latency`` (capture to output)."""
        return {s: self.recent_median(s) for s in (*LIVE_STAGES, "latency") if self.times.get(s)}

    def stage_line(self) -> str:
        """Per-stage and end-to-end median latency over the recent frames, for the overlay and the progress line."""
        live = self.live_stages()
        if not live:
            return ""
        end = live.pop("latency", None)
        parts = [f"{k} {v:.1f}" for k, v in live.items()] + ([f"end-to-end {end:.0f}"] if end is not None else [])
        return "median ms: " + "  ".join(parts)

    def status_line(self) -> str:
        """One short line for the live overlay: fps, recent median latency, shown and dropped frames."""
        lat = self.recent_median("latency")
        ms = f"{lat:.0f} ms" if lat == lat else "-"
        return f"{self.live_fps():.1f} fps  latency {ms}  shown {self.shown}  dropped {self.dropped}"

    def summary(self) -> dict[str, Any]:
        """Everything as plain numbers (for --json and reports)."""
        return {"captured": self.captured, "shown": self.shown, "dropped": self.dropped, "stale": self.stale,
                "fps": self.fps(), "latency_median_ms": self.percentile("latency", 50),
                "latency_p95_ms": self.percentile("latency", 95), "stages_median_ms": self.medians(),
                "ended": self.ended, "message": self.message}


@dataclass
class _Frame:
    rgb: np.ndarray
    index: int
    captured: float  # perf_counter() when the source returned it


class LatestSlot:
    """A one-frame mailbox: ``put`` replaces a frame not yet taken (returned, so the caller counts it dropped)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: Any = None
        self.closed = False

    def put(self, item: Any) -> Any:
        """Leave ``item``; returns the unread item it replaced, or None."""
        with self._cond:
            old, self._item = self._item, item
            self._cond.notify()
            return old

    def get(self, timeout: float) -> Any:
        """The waiting item, waiting up to ``timeout`` s; None if none came (see ``closed`` for the end)."""
        with self._cond:
            if self._item is None and not self.closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """No more items will come; wakes a waiting ``get``."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()


_END = object()


class _Stream:
    """The threads and counters of one :func:`run_stream` call."""

    def __init__(self, source: FrameSource, pipeline: Any, controls: Any) -> None:
        self.source, self.pipeline, self.controls = source, pipeline, controls
        self.stats = StreamStats()
        self.pipeline_lock = threading.Lock()  # keys change the pipeline only between frames
        self.lock = threading.Lock()  # guards the counters (never held for long: capture must not wait)
        self.stop = threading.Event()
        self.slot = LatestSlot()
        self.out: queue.Queue[Any] = queue.Queue(maxsize=1)
        self.source_end = "end"
        self.error: BaseException | None = None

    def count_dropped(self, n: int = 1, stale: bool = False) -> None:
        with self.lock:
            self.stats.dropped += n
            if stale:
                self.stats.stale += n

    def capture(self) -> None:
        """Capture thread: source -> slot."""
        index = 0
        try:
            while not self.stop.is_set():
                rgb = self.source.read()
                if rgb is None:
                    break
                t = time.perf_counter()
                if self.stop.is_set():  # read while stopping: never counted
                    break
                with self.lock:
                    self.stats.captured += 1
                if self.slot.put(_Frame(rgb, index, t)) is not None:
                    self.count_dropped(stale=True)
                index += 1
        except SourceLostError as e:
            self.source_end, self.stats.message = "lost", str(e)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            self.source_end, self.error = "error", e
        finally:
            self.slot.close()

    def infer(self) -> None:
        """Inference thread: slot -> pipeline -> output queue."""
        try:
            while not self.stop.is_set():
                item = self.slot.get(timeout=0.1)
                if item is None:
                    if self.slot.closed:
                        break
                    continue
                t0 = time.perf_counter()
                with self.pipeline_lock:
                    out = self.pipeline.process(item.rgb)
                    timings = dict(self.pipeline.last_timings)
                    if self.controls is not None and self.controls.show_mask and self.pipeline.last_alpha is not None:
                        grey = (self.pipeline.last_alpha * 255).astype(np.uint8)
                        out = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
                timings["wait"] = (t0 - item.captured) * 1e3
                if not self._hand_over((out, item, timings, time.perf_counter())):
                    self.count_dropped()
            self._hand_over(_END)
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            self.error = self.error or e
            self._hand_over(_END)

    def _hand_over(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def shutdown(self, threads: Sequence[threading.Thread]) -> None:
        """Stop the threads and count every frame still in flight as dropped."""
        self.stop.set()
        self.slot.close()
        for t in threads:
            t.join(timeout=10.0)
        leftover = self.slot.get(timeout=0)
        if leftover is not None:
            self.count_dropped()
        while True:
            try:
                item = self.out.get_nowait()
            except queue.Empty:
                break
            if item is not _END:
                self.count_dropped()


def run_stream(source: FrameSource, pipeline: Any, sinks: Sequence[FrameSink], *, frames: int | None = None,
               controls: Any = None, on_frame: Callable[[StreamStats], None] | None = None,
               close: bool = True) -> StreamStats:
    """Stream ``source`` through ``pipeline`` (a :class:`~segblur.runtime.pipeline.Pipeline`) into ``sinks``.

    Stops after ``frames`` outputs, at the end of the source, when a key sets ``controls.quit``
    (``controls``: a :class:`~segblur.media.preview.Controls`; keys come from :class:`Interactive`
    sinks), when the source is lost (``ended == "lost"``) or on Ctrl-C (``ended == "interrupted"``).
    ``on_frame(stats)`` runs after each output. Source and sinks are closed on every way out
    (recordings are finalised) unless ``close`` is False; errors of the pipeline or a sink are re-raised.
    """
    from .preview import handle_key

    interactive = [s for s in sinks if isinstance(s, Interactive)]
    st = _Stream(source, pipeline, controls)
    stats = st.stats
    pipeline.reset()
    threads = [threading.Thread(target=st.capture, name="segblur-capture", daemon=True),
               threading.Thread(target=st.infer, name="segblur-inference", daemon=True)]
    try:
        for t in threads:
            t.start()
        while True:
            for sink in interactive:
                key = sink.poll_key()
                if key is not None and controls is not None:
                    with st.pipeline_lock:
                        handle_key(key, controls, pipeline)
            if controls is not None and controls.quit:
                stats.ended = "quit"
                break
            try:
                item = st.out.get(timeout=0.01 if interactive else 0.2)
            except queue.Empty:
                continue
            if item is _END:
                if st.error is not None:
                    raise st.error
                stats.ended = st.source_end
                break
            out, frame, timings, t_done = item
            if interactive:
                status = stats.status_line()
                if controls is not None:
                    flash = controls.recent_message()
                    status += f"  {controls.describe(pipeline)}" + (f"  ({flash})" if flash else "")
                status += f"\n{stats.stage_line()}" if stats.shown else ""
                for sink in interactive:
                    sink.set_status(status)
            with st.lock:
                stats.shown += 1  # counted once handed to the sinks, even if one of them fails on it
            for sink in sinks:
                sink.send(out, frame.index, frame.captured)
            now = time.perf_counter()
            for name, ms in timings.items():
                if name != "total":
                    stats.add(name, ms)
            stats.add("output", (now - t_done) * 1e3)
            stats.add("latency", (now - frame.captured) * 1e3)
            stats.first_output = stats.first_output or now
            stats.last_output = now
            stats.recent.append(now)
            if on_frame is not None:
                on_frame(stats)
            if frames is not None and stats.shown >= frames:
                stats.ended = "frames"
                break
    except KeyboardInterrupt:
        stats.ended = "interrupted"
    finally:
        st.shutdown(threads)
        if close:
            _close_all(source, sinks, threads[0].is_alive())
    return stats


def _close_all(source: FrameSource, sinks: Sequence[FrameSink], capture_alive: bool) -> None:
    """Close every sink (even if one fails) and the source; the first sink error is re-raised."""
    error: BaseException | None = None
    for sink in sinks:
        try:
            sink.close()
        except BaseException as e:  # noqa: BLE001 - close the others first
            error = error or e
    if not capture_alive:  # a source stuck in read() is left to the process exit
        source.close()
    if error is not None:
        raise error
