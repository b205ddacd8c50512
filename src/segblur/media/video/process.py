"""process_video: every frame of a video file through a frame processor, re-encoded with its own timestamp.

Three collaborators, each timing itself: a :class:`~segblur.media.video.reader.VideoReader`
decodes, the processor (a :class:`~segblur.runtime.pipeline.Pipeline`) processes, a
:class:`~segblur.media.video.writer.VideoWriter` encodes (or a
:class:`~segblur.media.video.sequence.FrameFolder` writes numbered PNGs). By default decoding and encoding run
in two worker threads beside the processor, which runs in the calling thread, joined by small
bounded queues of :mod:`segblur.media.stages`. A processor that can look ahead
(:class:`~segblur.media.protocols.BufferedProcessor`: ``push``/``drain``) answers each frame a few frames later;
the frames wait for it in order, while the audio goes on. With frames in flight
(:mod:`segblur.runtime.lookahead`) the model starts on decoded frames before the processor reaches them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..protocols import BufferedProcessor, Frame, FrameProcessor, ProgressLine
from ..stages import END, Stages
from .codecs import CONTAINERS, is_frame_folder, kind_format
from .errors import VideoError
from .reader import VideoInfo, VideoReader
from .sequence import FrameFolder
from .writer import VideoWriter, same_file

QUEUE = 3  # frames waiting between two stages: enough to absorb jitter, little memory (6 MB per 1080p frame)
MAX_WORKERS = 4  # model threads by default (at most): past that the finishing passes of one thread are the limit

Item = tuple[list[Any], Frame | None]  # packets of the other streams to copy first, then a frame (None at the end)


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
    notes: list[str] = field(default_factory=list)  # one line per converted or dropped stream, or lost bit depth
    workers: int = 1  # frames the model worked on at once (frames in flight), see process_video

    @property
    def rate(self) -> float:
        """Frames processed per second of wall-clock time."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")


class _Processing:
    """The processing stage: the processor on each frame, turned back to the stored orientation, timed.

    Called with the decoded items, it yields the processed ones in the same order. A buffered processor is fed
    with ``push`` and answers frames later: the packets to copy go on at once (with no frame), and each frame's
    record waits for its answer; ``drain`` answers the last ones when the video ends. With a ``lookahead``
    (:class:`~segblur.runtime.lookahead.Lookahead`) the model starts on frames as they arrive (:meth:`prefetch`),
    ``lookahead.workers`` of them at once, on the part the processor expects to look at (``next_box``).
    """

    def __init__(self, processor: FrameProcessor, rotation: int, lookahead: Any = None) -> None:
        self.processor, self.rotation, self.lookahead = processor, rotation, lookahead
        self.ahead = lookahead.workers if lookahead is not None else 0
        self.buffered = isinstance(processor, BufferedProcessor)
        self.seconds = 0.0
        self.parts: dict[str, float] = {}  # the processor's own stages, summed from its last_timings (ms)

    def prefetch(self, item: Item) -> Item:
        """Start the model on ``item``'s frame ahead of time; returns the item to process later."""
        copied, frame = item
        if self.lookahead is None or frame is None:
            return item
        frame = dataclasses.replace(frame, rgb=np.ascontiguousarray(frame.rgb))  # the very array process() gets
        next_box = getattr(self.processor, "next_box", None)
        self.lookahead.submit(frame.rgb, next_box(frame.rgb.shape) if next_box is not None else None)
        return copied, frame

    def _done(self, frame: Frame, out: np.ndarray) -> Frame:
        for k, v in self.processor.last_timings.items():
            self.parts[k] = self.parts.get(k, 0.0) + v
        if self.rotation:
            out = np.rot90(out, -(self.rotation // 90))
        return dataclasses.replace(frame, rgb=out)

    def __call__(self, items: Iterable[Item]) -> Iterator[Item]:
        waiting: deque[Frame] = deque()  # frames pushed and not answered yet (buffered processor)
        for copied, frame in items:
            if frame is None:  # the end: the frames still held, then the last packets
                if self.buffered:
                    t0 = time.perf_counter()
                    for out in self.processor.drain():
                        self.seconds += time.perf_counter() - t0
                        yield [], self._done(waiting.popleft(), out)
                        t0 = time.perf_counter()
                    self.seconds += time.perf_counter() - t0
                yield copied, None
                continue
            t0 = time.perf_counter()
            if self.buffered:
                waiting.append(frame)
                out = self.processor.push(frame.rgb)
            else:
                out = self.processor.process(frame.rgb)
            self.seconds += time.perf_counter() - t0
            if out is None:
                yield copied, None
            else:
                yield copied, self._done(waiting.popleft() if self.buffered else frame, out)


class _Encoding:
    """The encoding stage: the copied packets, then the frame, to the writer, timed."""

    def __init__(self, writer: VideoWriter, numbered: bool) -> None:
        self.writer, self.numbered = writer, numbered
        self.seconds = 0.0

    def __call__(self, item: Item) -> None:
        copied, frame = item
        t0 = time.perf_counter()
        for packet in copied:
            self.writer.copy_packet(packet)
        if frame is not None:
            # AVI has no presentation timestamps (frame i is shown at i / fps): number the frames.
            self.writer.write(frame.rgb, pts=None if self.numbered else frame.pts)
        self.seconds += time.perf_counter() - t0


class _Tally:
    """Counts the frames done (and tells ``progress``), and where the video's first and last frames lie."""

    def __init__(self, progress: ProgressLine | None) -> None:
        self.progress = progress
        self.frames, self.first, self.end = 0, None, 0.0

    def __call__(self, item: Item) -> None:
        frame = item[1]
        if frame is None:
            return
        self.first = frame.time if self.first is None else self.first
        self.end = max(self.end, frame.time + frame.duration)
        self.frames += 1
        if self.progress is not None:
            self.progress.update()


def run_serial(items: Iterable[Item], process: Callable[[Iterable[Item]], Iterator[Item]],
               encode: Callable[[Item], None], done: Callable[[Item], None]) -> float:
    """Decode, process and encode one item after the other in this thread; returns 0 (no time spent waiting)."""
    for item in process(items):
        done(item)
        encode(item)
    return 0.0


def run_threaded(items: Iterable[Item], process: Callable[[Iterable[Item]], Iterator[Item]],
                 encode: Callable[[Item], None], done: Callable[[Item], None]) -> float:
    """Decode thread -> ``process`` in this thread -> encode thread; returns the seconds this thread waited.

    ``process`` maps the decoded items to the processed ones (in order); ``done`` sees each item once it is
    queued for encoding. Every exit (end of stream, an error in any stage, Ctrl-C) stops both threads and waits
    for them, so the caller may close the files. A ``process`` with ``prefetch`` and ``ahead`` (:class:`_Processing`
    with a lookahead) is handed each item as soon as it is decoded, up to ``ahead`` items before it processes
    them (frames in flight).
    """
    waiting = 0.0
    prefetch, ahead = getattr(process, "prefetch", None), getattr(process, "ahead", 0)
    with Stages() as stages:
        decoded, processed = stages.channel(QUEUE), stages.channel(QUEUE)
        stages.start("segblur-video-decode", decoded.feed, items)
        stages.start("segblur-video-encode", processed.consume, encode)

        def arriving() -> Iterator[Item]:
            nonlocal waiting
            queued: deque[Item] = deque()
            ended = False
            while True:
                while not ended and len(queued) <= ahead:
                    t0 = time.perf_counter()
                    item = decoded.get()
                    waiting += time.perf_counter() - t0
                    if item is END:
                        ended = True
                    else:
                        queued.append(prefetch(item) if prefetch is not None else item)
                if not queued:
                    return
                yield queued.popleft()

        for item in process(arriving()):
            t0 = time.perf_counter()
            processed.put(item)
            waiting += time.perf_counter() - t0
            done(item)
        processed.close()
        stages.wait()
    return waiting


def process_video(src: str | Path, dst: str | Path, processor: FrameProcessor, *, codec: str | None = None,
                  crf: float | None = None, pix_fmt: str = "yuv420p", options: dict[str, str] | None = None,
                  progress: ProgressLine | None = None, threads: bool = True, workers: int | None = None,
                  notify: Callable[[str], None] | None = None, info: VideoInfo | None = None,
                  kind: str = "rgb") -> VideoStats:
    """Run every frame of ``src`` through ``processor.process`` and write ``dst`` (same size, rate and timing).

    Audio and subtitle streams are copied unchanged; one the output container cannot hold is
    re-encoded or converted (or left out) with a line to ``notify`` before the first frame, as are
    other video streams, cover art and a bit depth beyond 8 bits (which the output does not keep).
    Frames are re-encoded with the YUV matrix and range they were decoded with, and tagged like
    the input, so that untouched pixels keep their colour. ``codec`` defaults to
    :func:`~segblur.media.video.codecs.default_codec`, ``crf`` to the codec's usual default;
    ``options`` are extra encoder options (e.g. ``{"preset": "slow"}``). ``progress`` (e.g. a
    :class:`~segblur.progress.Progress`) gets ``update()`` per frame. The processor's temporal
    state is reset first. Raises :class:`VideoError` for a bad input or output; ``dst`` is never
    left half-written. A :class:`~segblur.media.protocols.BufferedProcessor` is fed with ``push``/``drain``
    (a pipeline's two-way smoothing) instead of ``process``.

    ``kind`` says what the processor returns (:data:`~segblur.media.video.codecs.KINDS`): ``"rgb"`` frames,
    ``"rgba"`` frames with alpha (written as ProRes 4444 in .mov, VP9 with alpha in .webm, FFV1 in .mkv; audio
    kept) or a ``"matte"`` (H x W: lossless FFV1 in .mkv or PNG in .mov, no audio; or, when ``dst`` has no video
    suffix, a folder of numbered PNGs, ``000001.png``..., upright as players show the video).

    With ``threads`` (the default) decoding and encoding run in two daemon threads beside the
    processor, which runs in the calling thread; frames pass through small bounded queues in order.
    An error or Ctrl-C in any stage stops all three and is raised here as it was raised there.
    ``processor.process`` must return a new array (as :class:`~segblur.runtime.pipeline.Pipeline`
    does), since the encoder still reads it while the next frame is processed.
    ``threads=False`` runs the three stages one after the other (for comparison and debugging).
    ``workers`` (threaded only; default: the cores this process may use, at most :data:`MAX_WORKERS`) is
    how many frames the model works on at once, ahead of the frame being finished, when the processor
    has a ``segmenter`` (a :class:`~segblur.runtime.pipeline.Pipeline`): see
    :mod:`segblur.runtime.lookahead`. The results are the same; 1 turns it off.
    ``info``, :func:`~segblur.media.video.reader.probe_video`'s result for ``src``, saves probing
    the first frame again.
    """
    src, dst = Path(src), Path(dst)
    if same_file(src, dst):
        raise VideoError(f"{dst}: is the input file; choose another output")
    folder = is_frame_folder(dst, kind)
    if not folder and kind != "rgb":
        table_codec, pix_fmt = kind_format(dst, kind)
        codec = codec or table_codec
    start = time.perf_counter()
    in_flight = (default_workers() if workers is None else workers) if threads else 1
    with VideoReader(src, info) as reader, _in_flight(processor, in_flight) as lookahead:
        for note in reader.left_out:
            if notify is not None:
                notify(note)
        processor.reset()
        rotation = 0 if folder else reader.rotation  # image files are written upright
        process, tally = _Processing(processor, rotation, lookahead), _Tally(progress)
        if folder:
            w, h = (reader.height, reader.width) if reader.rotation % 180 else (reader.width, reader.height)
            writer: VideoWriter | FrameFolder = FrameFolder(dst, w, h)
        else:
            writer = VideoWriter(dst, reader.width, reader.height, reader.fps, codec=codec, crf=crf, pix_fmt=pix_fmt,
                                 audio_from=reader.container if kind != "matte" else None,
                                 time_base=reader.time_base, rotation=reader.rotation, options=options,
                                 color=reader.color, notify=notify)
        with writer:
            encode = _Encoding(writer, numbered=CONTAINERS.get(dst.suffix.lower()) == "avi")
            run = run_threaded if threads else run_serial
            waiting = run(reader.items(), process, encode, tally)
            if tally.frames == 0:
                raise VideoError(f"{src}: no video frames could be decoded (truncated or corrupt)")
            reader.check_complete(tally.end)
        n = tally.frames
        stage_ms = {"decode": reader.seconds * 1e3 / n}
        stage_ms.update({k: v / n for k, v in process.parts.items() if k != "total"})
        stage_ms.update({"pipeline": process.seconds * 1e3 / n, "encode": encode.seconds * 1e3 / n})
        if threads:
            stage_ms["pipeline waiting"] = waiting * 1e3 / n
        return VideoStats(src, dst, n, reader.width, reader.height, Fraction(reader.fps),
                          tally.end - (tally.first or 0.0), writer.copied_streams, time.perf_counter() - start,
                          writer.size if not folder and writer.size != (reader.width, reader.height) else None,
                          stage_ms, writer.converted_streams, reader.left_out + writer.notes, process.ahead or 1)


def default_workers() -> int:
    """Frames the model works on at once by default: the cores this process may use, at most :data:`MAX_WORKERS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_WORKERS, cores))


@contextlib.contextmanager
def _in_flight(processor: FrameProcessor, workers: int) -> Iterator[Any]:
    """A :class:`~segblur.runtime.lookahead.Lookahead` with ``workers`` threads in front of the processor's
    segmenter for the block (None: one worker, or no segmenter); the segmenter is put back after it."""
    segmenter = getattr(processor, "segmenter", None)
    if workers <= 1 or not callable(getattr(segmenter, "predict_lowres", None)):
        yield None
        return
    from ...runtime.lookahead import Lookahead

    with Lookahead(segmenter, workers) as lookahead:
        processor.segmenter = lookahead
        try:
            yield lookahead
        finally:
            processor.segmenter = segmenter
