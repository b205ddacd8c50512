"""Live streams: frame sources (camera, video file, URL), a threaded capture -> inference -> output loop, outputs.

``sources`` (camera, file or URL, synthetic), ``sinks`` (recording, null), ``preview`` (the
window), ``virtualcam`` (pyvirtualcam), ``controls`` (the preview's keys), ``stream``
(:func:`run_stream`), ``stats`` (:class:`StreamStats`) and ``session`` (:func:`open_camera`:
source and outputs from plain settings, what ``segblur camera`` runs). This package never imports torch.
"""

from .controls import KEYS, KEYS_HELP, Controls, handle_key
from .preview import PreviewWindow, gui_problem
from .session import CameraSession, CameraSettings, StreamError, open_camera
from .sinks import RECORD_TIME_BASE, NullSink, RecordSink, SinkError
from .sources import (
    LOST_AFTER_S,
    AvSource,
    DeviceSource,
    SourceError,
    SourceLostError,
    SyntheticSource,
    as_fraction,
    fit_frame,
    noisy_frames,
    open_source,
)
from .stats import StreamStats
from .stream import run_stream
from .virtualcam import VirtualCamera

__all__ = ["KEYS", "KEYS_HELP", "LOST_AFTER_S", "RECORD_TIME_BASE", "AvSource", "CameraSession", "CameraSettings",
           "Controls", "DeviceSource", "NullSink", "PreviewWindow", "RecordSink", "SinkError", "SourceError",
           "SourceLostError", "StreamError", "StreamStats", "SyntheticSource", "VirtualCamera", "as_fraction",
           "fit_frame", "gui_problem", "handle_key", "noisy_frames", "open_camera", "open_source", "run_stream"]
