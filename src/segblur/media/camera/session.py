"""A live camera session from plain settings: the source opened, the outputs set up, then streamed.

What ``segblur camera`` runs, for library users too::

    session = open_camera(CameraSettings(source=0, virtual=True))
    stats = session.run(Pipeline(temporal=True))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...io import one_line
from ..protocols import FrameProcessor, FrameSink, FrameSource
from ..video import VideoError, same_file
from . import preview
from .controls import Controls
from .sinks import RecordSink, SinkError
from .sources import open_source
from .stats import StreamStats
from .stream import run_stream
from .virtualcam import VirtualCamera


class StreamError(Exception):
    """The stream stopped because an output or the processor failed mid-stream (one line)."""


@dataclass
class CameraSettings:
    """Where a live stream comes from and where it goes (the options of ``segblur camera``).

    ``source`` is a camera index, /dev/videoN, a video file or a stream URL; ``size`` (width,
    height) and ``fps`` are asked of a camera, a file or stream is resized to ``size`` and played
    at ``fps``. Outputs: the ``preview`` window, a ``virtual`` camera (``virtual_device``: which
    one), a recording to ``record``.
    """

    source: str | int | Path = 0
    size: tuple[int, int] | None = None
    fps: float | None = None
    preview: bool = True
    virtual: bool = False
    virtual_device: str | None = None
    record: Path | None = None


class CameraSession:
    """An open source and its outputs (preview window, virtual camera, recorder), ready to :meth:`run`.

    Use as a context manager, so that an interruption before :meth:`run` still closes everything.
    """

    def __init__(self, source: FrameSource, window: preview.PreviewWindow | None = None,
                 virtual: VirtualCamera | None = None, recorder: RecordSink | None = None) -> None:
        self.source, self.window, self.virtual, self.recorder = source, window, virtual, recorder
        self._closed = False

    def __enter__(self) -> CameraSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def expected_frames(self, frames: int | None = None) -> int | None:
        """How many frames a run will show: ``frames``, or fewer when the source is a file that holds fewer
        (a progress line must not count to 300 for a 100-frame clip); None when unknown (a live camera)."""
        held = getattr(self.source, "frames", None)
        return min(frames, held) if frames is not None and held else (frames or held or None)

    @property
    def sinks(self) -> list[FrameSink]:
        return [s for s in (self.window, self.virtual, self.recorder) if s is not None]

    def describe(self) -> str:
        """One line: the source's size and rate, and where the frames go."""
        s = self.source
        outs = (["preview"] if self.window else []) + \
            ([f"virtual camera {self.virtual.device}"] if self.virtual else []) + \
            ([f"recording to {self.recorder.path}"] if self.recorder else [])
        return (f"{s.name}: {s.width}x{s.height} at {float(s.fps):.3g} fps -> "
                f"{', '.join(outs) or 'no output (headless)'}" + ("" if self.window else "; Ctrl-C stops"))

    def run(self, processor: FrameProcessor, *, frames: int | None = None, controls: Controls | None = None,
            on_frame: Callable[[StreamStats], None] | None = None) -> StreamStats:
        """:func:`~segblur.media.camera.stream.run_stream` into the outputs; everything is closed at the end.

        An output or processor failing mid-stream is a :class:`StreamError` (one line); the
        recording is finalised all the same.
        """
        self._closed = True  # run_stream closes the source and every output on its way out
        try:
            return run_stream(self.source, processor, self.sinks, frames=frames, controls=controls,
                              on_frame=on_frame)
        except (VideoError, SinkError) as e:
            raise StreamError(str(e)) from None
        except (OSError, RuntimeError, ValueError) as e:  # a sink or the processor failed mid-stream
            raise StreamError(f"{self.source.name}: stream stopped ({one_line(e)})") from None

    def close(self) -> None:
        """Close the outputs and the source without streaming (nothing, once :meth:`run` or this has closed them).

        A recording with no frame is not kept (its temp file is removed)."""
        if self._closed:
            return
        self._closed = True
        for sink in self.sinks:
            sink.close()
        self.source.close()


def open_camera(settings: CameraSettings, notify: Callable[[str], None] | None = None) -> CameraSession:
    """Open the source and set up the outputs ``settings`` ask for.

    Without a GUI the preview is refused (:class:`SinkError`) when it is the only output, and
    otherwise left out with a line to ``notify``. Raises
    :class:`~segblur.media.camera.sources.SourceError` or :class:`SinkError`, one line each, when
    something cannot be opened; whatever was opened by then is closed again.
    """
    show = settings.preview
    if show and (problem := preview.gui_problem()):
        if not (settings.virtual or settings.record):
            fix = f"swap in the GUI build ({preview.GUI_INSTALL}), or run" if problem == preview.NO_GUI else "run"
            raise SinkError(f"{problem}; {fix} with --no-preview, --virtual or --record")
        if notify is not None:
            notify(f"{problem}; running without it")
        show = False
    record = Path(settings.record) if settings.record is not None else None
    if record is not None and Path(str(settings.source)).is_file() and same_file(record, Path(str(settings.source))):
        raise SinkError(f"{record}: is the source; choose another file to record to")
    source = open_source(settings.source, settings.size, settings.fps)
    session = CameraSession(source)
    try:
        if show:
            session.window = preview.PreviewWindow(f"segblur - {source.name}")
        if settings.virtual:
            session.virtual = VirtualCamera(source.width, source.height, source.fps, device=settings.virtual_device)
        if record is not None:
            session.recorder = RecordSink(record, source.width, source.height, source.fps)
    except BaseException:  # SinkError, or Ctrl-C/SIGTERM while opening: close what is open (no temp file left)
        session.close()
        raise
    return session
