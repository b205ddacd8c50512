"""Stream benchmarks: the threaded camera loop on a paced synthetic source, mask flicker, video file throughput.

* ``measure_stream``: a still frame served like a camera at ``fps`` (30, or 1000 for "as fast as it
  goes") through :func:`segblur.media.camera.run_stream`: achieved fps, dropped frames, capture to
  output latency.
* ``measure_flicker``: a static scene with fresh sensor-like noise on every frame; how much the
  mask changes between consecutive frames, with temporal smoothing off and on.
* ``measure_file_throughput``: frames per second of ``media.video.process_video`` (decode, process,
  encode) on a synthetic clip.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..eval.sequence import alpha_changes
from ..interrupts import interruption
from ..media.camera import Controls, NullSink, SyntheticSource, noisy_frames, run_stream
from ..media.video import VideoError, VideoWriter, process_video

FAST_FPS = 1000.0  # "as fast as it goes": a source faster than any pipeline, yet not a busy loop


def _warm(pipeline: Any, frame: np.ndarray, n: int) -> None:
    for _ in range(n):
        pipeline.process(frame)


def measure_stream(pipeline: Any, frame: np.ndarray, fps: float = 30.0, seconds: float = 10.0,
                   warmup: int = 5, noise: float = 0.0) -> dict[str, Any]:
    """Stream ``frame`` at ``fps`` for ``seconds`` through the threaded loop into a null sink; the stream's summary.

    ``noise``: Gaussian sensor noise (sigma, grey levels) drawn afresh for each frame, as a camera gives it.
    The pipeline is warmed up first (ONNX Runtime's first runs are slow) and left with its settings. A stop (Ctrl-C,
    SIGTERM, SIGHUP), which the loop turns into the end of its stream, is raised again: it stops the benchmark.
    """
    _warm(pipeline, frame, warmup)
    controls = Controls()
    end = time.perf_counter() + seconds

    def stop_when_done(_stats: Any) -> None:
        if time.perf_counter() >= end:
            controls.quit = True

    source = SyntheticSource(frame, fps=fps, count=max(1, round(fps * seconds)), noise=noise)
    stats = run_stream(source, pipeline, [NullSink()], controls=controls, on_frame=stop_when_done)
    if stats.ended == "interrupted":
        raise interruption()
    return {"source_fps": fps, "seconds": seconds, **stats.summary()}


def _mask_changes(pipeline: Any, frames: list[np.ndarray], count: int, settle: int) -> dict[str, float]:
    """:func:`~segblur.eval.sequence.alpha_changes` of ``count`` frames through ``pipeline.process`` (the camera's
    path)."""
    def alphas() -> Iterator[np.ndarray]:
        for i in range(count):
            pipeline.process(frames[i % len(frames)])
            yield pipeline.last_alpha

    return alpha_changes(alphas(), settle)


def measure_flicker(pipeline: Any, frame: np.ndarray, frames: int = 60, sigma: float = 2.5, settle: int = 5,
                    seed: int = 0) -> dict[str, Any]:
    """Mask flicker on a static scene with Gaussian noise of ``sigma`` grey levels, temporal smoothing off and on.

    ``mean_abs_change``: mean |alpha_t - alpha_t-1| over the frame, in 1/255 units; ``flipped_pct``:
    percentage of pixels crossing alpha 0.5 between frames. The first ``settle`` frames are not
    counted (the smoothing starts afresh). The pipeline's own temporal setting is restored.
    """
    if frames < settle + 2:
        raise ValueError(f"need at least {settle + 2} frames, got {frames}")
    noisy = noisy_frames(frame, sigma, min(frames, 16), seed)
    before = pipeline.temporal
    result: dict[str, Any] = {"sigma": sigma, "frames": frames}
    try:
        for name, on in (("off", False), ("on", True)):
            pipeline.set_temporal(on)
            pipeline.reset()
            result[name] = _mask_changes(pipeline, noisy, frames, settle)
    finally:
        pipeline.set_temporal(before if before is not None else False)
    return result


def synthetic_clip(path: Path, frame: np.ndarray, frames: int, fps: int = 30) -> Path:
    """Write a clip of ``frame`` panning slowly sideways (a little motion, so the encoder has work)."""
    h, w = frame.shape[:2]
    with VideoWriter(path, w, h, fps) as writer:
        for i in range(frames):
            writer.write(np.roll(frame, 4 * i, axis=1))
    return path


def measure_file_throughput(pipeline: Any, frame: np.ndarray, frames: int = 60) -> dict[str, Any] | None:
    """Frames per second of ``process_video`` (decode, process, encode H.264) on a clip of ``frame``.

    None when the clip cannot be made (PyAV is not installed).
    """
    h, w = frame.shape[:2]
    with tempfile.TemporaryDirectory(prefix="segblur-bench-") as tmp:
        try:
            src = synthetic_clip(Path(tmp) / "in.mp4", frame, frames)
        except VideoError:
            return None
        _warm(pipeline, frame, 3)
        cpu = time.process_time()
        stats = process_video(src, Path(tmp) / "out.mp4", pipeline)
        cpu = time.process_time() - cpu
    return {"size": [w, h], "frames": stats.frames, "seconds": stats.seconds, "fps": stats.rate,
            "cpu_ms_per_frame": cpu * 1e3 / max(1, stats.frames)}


def format_stream_table(results: dict[str, Any]) -> str:
    """Markdown tables for the stream, flicker and file results (any of them may be missing)."""
    lines: list[str] = []
    runs = results.get("stream") or []
    if runs:
        lines += ["| threaded stream | CPU % of one core | CPU ms/frame | source fps | shown fps | captured | dropped "
                  "| latency median ms | latency p95 ms |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in runs:
            cpu = f"{r['cpu_percent']:.0f} | {r['cpu_ms_per_frame']:.1f}" if "cpu_percent" in r else " | "
            lines.append(f"| {r['name']} | {cpu} | {r['source_fps']:.0f} | {r['fps']:.1f} | {r['captured']} | "
                         f"{r['dropped']} | {r['latency_median_ms']:.1f} | {r['latency_p95_ms']:.1f} |")
        lines += [f"{r['name']}: {r['governor']}" for r in runs if r.get("governor")] + [""]
    fl = results.get("flicker")
    if fl:
        lines += [f"| flicker, static scene, noise sigma {fl['sigma']:g} | mean abs mask change (1/255) "
                  "| pixels flipped per frame % |", "|---|---:|---:|"]
        for name in ("off", "on"):
            lines.append(f"| temporal smoothing {name} | {fl[name]['mean_abs_change']:.3f} | "
                         f"{fl[name]['flipped_pct']:.4f} |")
        lines.append("")
    fi = results.get("file")
    if fi:
        cpu = f"{fi['cpu_ms_per_frame']:.1f}" if "cpu_ms_per_frame" in fi else ""
        lines += ["| video file (process_video) | CPU ms/frame | frames | seconds | fps |", "|---|---:|---:|---:|---:|",
                  f"| {fi['size'][0]}x{fi['size'][1]} H.264 | {cpu} | {fi['frames']} | {fi['seconds']:.2f} "
                  f"| {fi['fps']:.1f} |"]
    elif "file" in results:
        lines.append("video file throughput: skipped (--file-frames 0, or PyAV not available)")
    return "\n".join(lines).rstrip()
