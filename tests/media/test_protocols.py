"""media.protocols: the Pipeline is what the media loops are typed for, and they are typed with the protocols."""

from __future__ import annotations

import typing
from pathlib import Path

import numpy as np

from segblur.media.camera import NullSink, SyntheticSource, run_stream
from segblur.media.camera.controls import Controls, handle_key
from segblur.media.protocols import FrameProcessor, FrameSink, FrameSource, LiveProcessor
from segblur.media.video import process_video, process_videos
from segblur.runtime.pipeline import Pipeline


class Doubler:
    """The least a frame processor needs: no effect settings, so not a LiveProcessor."""

    last_timings: dict[str, float] = {}
    last_alpha = None

    def reset(self) -> None:
        pass

    def process(self, image: np.ndarray) -> np.ndarray:
        return np.minimum(image.astype(np.uint16) * 2, 255).astype(np.uint8)


def test_the_pipeline_is_a_frame_processor_and_a_live_one(model_path: Path) -> None:
    pipe = Pipeline(model_path)
    assert isinstance(pipe, FrameProcessor) and isinstance(pipe, LiveProcessor)
    assert isinstance(Doubler(), FrameProcessor) and not isinstance(Doubler(), LiveProcessor)
    assert not isinstance(object(), FrameProcessor)


def test_the_media_loops_are_typed_with_the_protocols() -> None:
    """No ``Any`` for a collaborator: the processor, source and sinks are typed with the protocols."""
    hints = typing.get_type_hints(process_video)
    assert hints["processor"] is FrameProcessor
    assert typing.get_type_hints(process_videos)["processor"] is FrameProcessor
    hints = typing.get_type_hints(run_stream)
    assert hints["processor"] is FrameProcessor and hints["source"] is FrameSource
    assert typing.get_args(hints["sinks"]) == (FrameSink,)
    assert typing.get_type_hints(handle_key)["processor"] is LiveProcessor


def test_any_frame_processor_runs_a_stream() -> None:
    """A processor that is not a Pipeline streams as well (keys, which need effect settings, are not used)."""
    frame = np.full((8, 8, 3), 100, np.uint8)
    sink = NullSink()
    stats = run_stream(SyntheticSource(frame, fps=None, count=5), Doubler(), [sink], controls=Controls())
    assert stats.ended == "end" and sink.frames == stats.shown >= 1
