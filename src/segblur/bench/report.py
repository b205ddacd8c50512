"""The whole ``segblur benchmark`` run as one JSON-ready report, and the text it prints.

Per-stage milliseconds of each effect's pipeline and, when given, of the MediaPipe-style reference on the same
frame in the same process (:mod:`.run`); with ``stream_seconds`` also the stream measurements of :mod:`.stream`
(:func:`measure_streams`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..media.images import ImageError
from ..runtime.pipeline import Pipeline
from ..runtime.subject import SubjectConfig
from .run import format_table, machine, make_frame, time_pipeline, time_reference
from .stream import FAST_FPS, format_stream_table, measure_file_throughput, measure_flicker, measure_stream

REFERENCE = "reference (MediaPipe selfie, LiteRT, 31x31 blur)"
SENSOR_NOISE = 2.5  # grey levels of fresh noise on each frame of the still picture a stream run serves


class BenchmarkError(Exception):
    """The benchmark cannot run (unreadable photo, unusable reference model); one line naming the file."""


def measure_streams(make_pipeline: Callable[..., Pipeline], frame: np.ndarray, effect: str = "blur",
                    seconds: float = 10.0, file_frames: int = 60, image: str | Path | None = None,
                    reference: str | Path | None = None, threads: int | None = None,
                    notify: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """The threaded loop at 30 and :data:`~.stream.FAST_FPS` fps for ``seconds`` each on the still frame with sensor
    noise, the same at 30 fps with the compute governor (``governor=True``), flicker off/on, and (unless
    ``file_frames`` is 0) 1920x1080 file throughput of a frame made from ``image``. With ``reference`` (a
    MediaPipe selfie .tflite, run with ``threads``) the reference pipeline streams at 30 fps through the same loop.

    ``make_pipeline(effect=, background=, temporal=, subject=[, governor=])`` builds the pipeline (the image effect
    uses the mirrored frame as its picture). ``notify`` gets a line as each measurement starts. Returns ``{"model",
    "effect", "stream", "flicker", "file"}`` for :func:`~.stream.format_stream_table`.
    """
    if not seconds > 0:
        raise ValueError(f"stream seconds must be positive, got {seconds:g}")
    # The camera's defaults: temporal smoothing (causal, with optical flow) and the subject followed.
    background = frame[:, ::-1] if effect == "image" else None
    camera = dict(effect=effect, background=background, temporal=True, subject=SubjectConfig(follow=True))
    pipe = make_pipeline(**camera)
    runs = []
    for name, fps in (("camera 30 fps", 30.0), ("as fast as it goes", FAST_FPS)):
        notify(f"stream: {name} for {seconds:g} s")
        runs.append({"name": name, **measure_stream(pipe, frame, fps, seconds, noise=SENSOR_NOISE)})
    notify(f"stream: camera 30 fps with the governor for {seconds:g} s")
    governed = make_pipeline(**camera, governor=True)
    runs.append({"name": "camera 30 fps, governor", **measure_stream(governed, frame, 30.0, seconds,
                                                                   noise=SENSOR_NOISE),
                 "governor": governed.governor.describe()})
    if reference:
        from .reference import MediaPipeSelfie, ReferencePipeline

        notify(f"stream: the reference at camera 30 fps for {seconds:g} s")
        ref = ReferencePipeline(MediaPipeSelfie(reference, threads=threads))
        runs.append({"name": "reference, camera 30 fps", **measure_stream(ref, frame, 30.0, seconds,
                                                                        noise=SENSOR_NOISE)})
    big = make_frame((1920, 1080), image)
    if effect == "image":
        pipe.set_effect("image", background=big[:, ::-1])
    notify("flicker: temporal smoothing off and on")
    flicker = measure_flicker(pipe, frame)
    if file_frames:
        notify(f"video file: {file_frames} frames of 1920x1080")
    file = measure_file_throughput(pipe, big, file_frames) if file_frames else None
    return {"model": pipe.segmenter.info.name, "effect": effect, "stream": runs, "flicker": flicker, "file": file}


def run_benchmark(make_pipeline: Callable[..., Pipeline], size: tuple[int, int], *, image: str | Path | None = None,
                  effects: Sequence[str] = ("blur",), repeats: int = 100, reference: str | Path | None = None,
                  threads: int | None = None, stream_seconds: float | None = None,
                  file_frames: int = 60, notify: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Time each effect's pipeline on a ``size`` = (w, h) frame made from ``image`` (default: the bundled sample).

    ``make_pipeline(effect=, background=, temporal=)`` builds each pipeline (the image effect uses the mirrored
    frame as its picture). ``reference`` is a MediaPipe ``selfie_segmentation.tflite`` timed alongside with
    ``threads``; ``stream_seconds`` adds :func:`measure_streams` for the first effect. ``notify`` gets a line as
    each measurement starts (the whole run takes from seconds to a minute).
    Returns ``{"size", "repeats", "machine", "results", "stream"}``, as ``segblur benchmark --json`` writes it.
    """
    try:
        frame = make_frame(size, image)
    except (ValueError, ImageError) as e:
        raise BenchmarkError(str(e)) from None
    ref_model = None
    if reference:  # loaded first: a missing or foreign file is said before a minute of timing segblur
        from .reference import MediaPipeSelfie

        try:
            ref_model = MediaPipeSelfie(reference, threads=threads)
        except (RuntimeError, ValueError, OSError) as e:
            raise BenchmarkError(f"{reference}: {e}") from None
    results: dict[str, dict[str, float]] = {}
    for effect in effects:
        pipe = make_pipeline(effect=effect, background=frame[:, ::-1] if effect == "image" else None)
        notify(f"timing segblur {pipe.segmenter.info.name} {effect}: {repeats} runs of {size[0]}x{size[1]}")
        results[f"segblur {pipe.segmenter.info.name} {effect}"] = time_pipeline(pipe, frame, repeats)
    if reference:
        notify(f"timing the reference: {repeats} runs")
        try:
            results[REFERENCE] = time_reference(ref_model, frame, repeats)
        except (RuntimeError, ValueError, OSError) as e:
            raise BenchmarkError(f"{reference}: {e}") from None
    stream = None
    if stream_seconds is not None:
        stream = measure_streams(make_pipeline, frame, effects[0], stream_seconds, file_frames, image,
                                 reference, threads, notify)
    return {"size": size, "repeats": repeats, "machine": machine(), "results": results, "stream": stream}


def format_report(report: dict[str, Any]) -> str:
    """The report as printed: a header naming the machine, the stage table, speed against the reference, streams."""
    (w, h), results, info = report["size"], report["results"], report["machine"]
    lines = [f"{w}x{h} frame, median of {report['repeats']} runs; {info['cpu']}, {info['cores']} cores",
             format_table(results)]
    if REFERENCE in results:
        ref = results[REFERENCE]
        for name, r in results.items():
            if name != REFERENCE:
                cpu = f", {r['cpu'] / ref['cpu']:.2f}x its CPU time" if "cpu" in r and "cpu" in ref else ""
                lines.append(f"{name}: {r['total'] / ref['total']:.2f}x the reference's time per frame "
                             f"({ref['total'] / r['total']:.2f}x its speed){cpu}")
    stream = report.get("stream")
    if stream is not None:
        seconds = stream["stream"][0]["seconds"]
        lines += ["", f"streams ({stream['model']}, {stream['effect']}, temporal smoothing on unless noted; "
                  f"{w}x{h} source, {seconds:g} s per run)", format_stream_table(stream)]
    return "\n".join(lines)
