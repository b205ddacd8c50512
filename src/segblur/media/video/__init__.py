"""Video files through a :class:`~segblur.runtime.pipeline.Pipeline`, with PyAV (the ``video`` extra).

Every video frame is decoded, processed and re-encoded with its own timestamp (variable frame
rates survive) in the colours it was decoded with (same YUV matrix, range and colour tags); audio
and subtitle streams are copied packet for packet, not re-encoded, unless the output container
cannot hold their codec: then audio is re-encoded to the container's usual codec and text
subtitles are converted (bitmap subtitles are dropped), each with a note. The output is written
to a hidden temp file beside the destination and renamed at the end, so a failure or Ctrl-C never
leaves a partial file. Problems are :class:`VideoError` with one line that names the file.

``color`` (colour tags, RGB -> YUV), ``codecs`` (containers, encoder settings), ``passthrough``
(audio and subtitles), ``reader`` (opening, probing, decoding), ``writer`` (:class:`VideoWriter`),
``process`` (:func:`process_video`) and ``batch`` (:func:`process_videos`, several files).
"""

from .batch import VideoResult, plan_outputs, process_videos
from .codecs import CONTAINERS, DEFAULT_CRF, check_codec, codec_options, default_codec
from .color import UNTAGGED, ColorInfo, rgb_to_i420
from .errors import VideoError, require_av
from .process import VideoStats, process_video
from .reader import VideoInfo, VideoReader, frame_rotation, probe_video, stream_rate, upright
from .writer import VideoWriter, same_file

__all__ = ["CONTAINERS", "DEFAULT_CRF", "UNTAGGED", "ColorInfo", "VideoError", "VideoInfo", "VideoReader",
           "VideoResult", "VideoStats", "VideoWriter", "check_codec", "codec_options", "default_codec",
           "frame_rotation", "plan_outputs", "probe_video", "process_video", "process_videos", "require_av",
           "rgb_to_i420", "same_file", "stream_rate", "upright"]
