"""What media code exchanges: the one frame record, and the protocols its collaborators are typed with.

A :class:`FrameProcessor` (in practice :class:`~segblur.runtime.pipeline.Pipeline`) turns frames
into frames; a :class:`FrameSource` gives live frames and a :class:`FrameSink` takes them. Any
object with these methods will do: the video and camera loops never need more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from ..runtime.effects import Color, Effect
    from ..runtime.temporal import TemporalConfig


@dataclass
class Frame:
    """One frame on its way through the stages of a video or a live stream.

    ``rgb`` is the decoded or captured picture, then the processed one. A video file's frames
    carry their timestamp (``pts`` in the stream's time base, ``time`` and ``duration`` in
    seconds); a live stream's carry when they were captured and processed (``time.perf_counter()``)
    and the processor's milliseconds per stage.
    """

    rgb: np.ndarray
    index: int  # number in the stream: decoding order, or a camera's capture count (gaps are dropped frames)
    time: float = 0.0
    duration: float = 0.0
    pts: int | None = None
    captured: float = 0.0
    processed: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class FrameProcessor(Protocol):
    """Turns one RGB uint8 frame into a new RGB uint8 frame of the same size (what a stream is fed through; for
    export, an RGBA frame or a single-channel matte).

    ``reset`` starts a new stream; after ``process``, ``last_timings`` holds its milliseconds per
    stage and ``last_alpha`` the mask it applied (or None).
    """

    last_timings: dict[str, float]
    last_alpha: np.ndarray | None

    def process(self, image: np.ndarray) -> np.ndarray: ...

    def reset(self) -> None: ...


@runtime_checkable
class BufferedProcessor(FrameProcessor, Protocol):
    """A processor that may look ahead in a file: ``push`` a frame, get back the one ``n`` pushes earlier (None
    while it fills), and ``drain`` the ones still held at the end (a pipeline's two-way smoothing).

    ``last_timings``/``last_alpha`` then describe the frame just returned.
    """

    def push(self, image: np.ndarray) -> np.ndarray | None: ...

    def drain(self) -> Iterator[np.ndarray]: ...


@runtime_checkable
class LiveProcessor(FrameProcessor, Protocol):
    """A processor whose settings the preview keys change between frames (effect, smoothing, mask view)."""

    effect: Effect
    view: str

    @property
    def temporal(self) -> TemporalConfig | None: ...

    def set_effect(self, effect: str | Effect | None = None, strength: float | None = None,
                   background: np.ndarray | str | Path | None = None,
                   color: Color | str | None = None) -> None: ...

    def set_temporal(self, config: bool | TemporalConfig) -> None: ...


class FrameSource(Protocol):
    """Where live frames come from. ``read`` blocks until the next RGB uint8 frame; None means the stream has ended."""

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
    """A sink with a window: shows status text (lines split by newlines) and reports key presses."""

    def set_status(self, text: str) -> None: ...

    def poll_key(self) -> int | None: ...


class ProgressLine(Protocol):
    """A progress display counted per frame (e.g. :class:`segblur.progress.Progress`)."""

    def update(self, n: int = 1) -> None: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...
