"""run_stream: a live source through a frame processor into sinks, in three threads.

Capture, inference and output are joined by two mailboxes of :mod:`segblur.media.stages`::

    capture thread --(latest-frame slot)--> inference thread --(channel of 1)--> caller's thread: sinks

The slot holds one frame: a new frame replaces one that was not picked up yet (the stale frame is
dropped and counted), so a slow model lowers the frame rate instead of building up delay, and the
latency from capture to output stays at one or two frames. ONNX Runtime, OpenCV and numpy release
the GIL, so the threads overlap. Sinks (preview window, virtual camera, recorder) run in the
calling thread, which is the one a GUI toolkit needs.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Sequence

from ..protocols import Frame, FrameProcessor, FrameSink, FrameSource, Interactive, LiveProcessor
from ..stages import END, Channel, LatestSlot, Stages, StoppedError
from .controls import Controls, handle_key
from .sources import SourceLostError
from .stats import StreamStats


class _Stream:
    """The work of each thread of one :func:`run_stream` call, and the counters they share."""

    def __init__(self, source: FrameSource, processor: FrameProcessor, sinks: Sequence[FrameSink],
                 controls: Controls | None) -> None:
        self.source, self.processor, self.sinks, self.controls = source, processor, sinks, controls
        self.interactive = [s for s in sinks if isinstance(s, Interactive)]
        self.live = processor if isinstance(processor, LiveProcessor) else None  # what keys can change
        self.stats = StreamStats()
        self.processor_lock = threading.Lock()  # keys change the processor only between frames
        self.lock = threading.Lock()  # guards the counters (never held for long: capture must not wait)
        self.source_end = "end"

    def count_dropped(self, n: int = 1, stale: bool = False) -> None:
        with self.lock:
            self.stats.dropped += n
            if stale:
                self.stats.stale += n

    def capture(self, stop: threading.Event, slot: LatestSlot) -> None:
        """Capture thread: source -> slot, until the source ends (or is lost) or the run stops."""
        index = 0
        try:
            while not stop.is_set():
                rgb = self.source.read()
                if rgb is None:
                    break
                t = time.perf_counter()
                if stop.is_set():  # read while stopping: never counted
                    break
                with self.lock:
                    self.stats.captured += 1
                if slot.put(Frame(rgb, index, captured=t)) is not None:
                    self.count_dropped(stale=True)
                index += 1
        except SourceLostError as e:
            self.source_end, self.stats.message = "lost", str(e)
        finally:
            slot.close()

    def infer(self, slot: LatestSlot, out: Channel) -> None:
        """Inference thread: slot -> processor -> output channel."""
        for frame in slot:
            t0 = time.perf_counter()
            with self.processor_lock:
                rgb = self.processor.process(frame.rgb)
                timings = dict(self.processor.last_timings)
            timings["wait"] = (t0 - frame.captured) * 1e3
            try:
                out.put(dataclasses.replace(frame, rgb=rgb, timings=timings, processed=time.perf_counter()))
            except StoppedError:
                self.count_dropped()
                raise
        out.close()

    def deliver(self, out: Channel, frames: int | None, on_frame: Callable[[StreamStats], None] | None) -> str:
        """Caller's thread: keys, then each processed frame to every sink; returns how the stream ended."""
        while True:
            self.poll_keys()
            if self.controls is not None and self.controls.quit:
                return "quit"
            frame = out.get(timeout=0.01 if self.interactive else 0.2)
            if frame is None:
                continue
            if frame is END:
                return self.source_end
            self.show(frame)
            if on_frame is not None:
                on_frame(self.stats)
            if frames is not None and self.stats.shown >= frames:
                return "frames"

    def poll_keys(self) -> None:
        for sink in self.interactive:
            key = sink.poll_key()
            if key is not None and self.controls is not None:
                with self.processor_lock:
                    handle_key(key, self.controls, self._live())

    def _live(self) -> LiveProcessor:
        if self.live is None:
            raise TypeError(f"preview keys need a processor with effect settings, not {type(self.processor).__name__}")
        return self.live

    def show(self, frame: Frame) -> None:
        """Hand ``frame`` to every sink (interactive ones get the status lines first), then count its times."""
        stats = self.stats
        if self.interactive:
            status = stats.status_line()
            if self.controls is not None:
                flash = self.controls.recent_message()
                status += f"  {self.controls.describe(self._live())}" + (f"  ({flash})" if flash else "")
            status += f"\n{stats.stage_line()}" if stats.shown else ""
            for sink in self.interactive:
                sink.set_status(status)
        with self.lock:
            stats.shown += 1  # counted once handed to the sinks, even if one of them fails on it
        for sink in self.sinks:
            sink.send(frame.rgb, frame.index, frame.captured)
        now = time.perf_counter()
        for name, ms in frame.timings.items():
            if name != "total":
                stats.add(name, ms)
        stats.add("output", (now - frame.processed) * 1e3)
        stats.add("latency", (now - frame.captured) * 1e3)
        stats.first_output = stats.first_output or now
        stats.last_output = now
        stats.recent.append(now)


def run_stream(source: FrameSource, processor: FrameProcessor, sinks: Sequence[FrameSink], *,
               frames: int | None = None, controls: Controls | None = None,
               on_frame: Callable[[StreamStats], None] | None = None, close: bool = True) -> StreamStats:
    """Stream ``source`` through ``processor`` (a :class:`~segblur.runtime.pipeline.Pipeline`) into ``sinks``.

    Stops after ``frames`` outputs, at the end of the source, when a key sets ``controls.quit``
    (keys come from :class:`~segblur.media.protocols.Interactive` sinks and change the
    processor, which must then be a :class:`~segblur.media.protocols.LiveProcessor`), when the
    source is lost (``ended == "lost"``) or on Ctrl-C (``ended == "interrupted"``).
    ``on_frame(stats)`` runs after each output. Source and sinks are closed on every way out
    (recordings are finalised) unless ``close`` is False; errors of the processor or a sink are re-raised.
    """
    stream = _Stream(source, processor, sinks, controls)
    processor.reset()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    stages = Stages()
    slot, out = stages.latest(), stages.channel(1)
    capture = None
    try:
        with stages:
            capture = stages.start("segblur-capture", stream.capture, stages.stop, slot)
            stages.start("segblur-inference", stream.infer, slot, out)
            stream.stats.ended = stream.deliver(out, frames, on_frame)
    except KeyboardInterrupt:
        stream.stats.ended = "interrupted"
    finally:
        stream.stats.cpu_seconds = time.process_time() - cpu0
        stream.stats.wall_seconds = time.perf_counter() - wall0
        stream.count_dropped(len(slot.leftovers()) + len(out.leftovers()))  # frames in flight at the end
        if close:
            _close_all(source, sinks, capture is not None and capture.is_alive())
    return stream.stats


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
