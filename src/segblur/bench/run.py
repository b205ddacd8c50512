"""Time ``Pipeline.process`` per stage, and the reference pipeline, on the same frame in the same process."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..assets import sample_path
from ..media.images import read_image
from ..runtime.pipeline import Pipeline


def make_frame(size: tuple[int, int], image: str | Path | None = None) -> np.ndarray:
    """A frame of ``size`` = (w, h): the photo scaled to the frame's height, centred, edges mirrored to fill."""
    img = read_image(image or sample_path())
    w, h = size
    s = h / img.shape[0]
    img = cv2.resize(img, (max(1, round(img.shape[1] * s)), h), interpolation=cv2.INTER_AREA)
    if img.shape[1] >= w:
        x0 = (img.shape[1] - w) // 2
        return np.ascontiguousarray(img[:, x0:x0 + w])
    left = (w - img.shape[1]) // 2
    return cv2.copyMakeBorder(img, 0, 0, left, w - img.shape[1] - left, cv2.BORDER_REFLECT_101)


CAMERA_FPS = 30.0  # the frame rate a CPU share is given at: a webcam's


def time_pipeline(pipeline: Pipeline, frame: np.ndarray, repeats: int = 100, warmup: int = 5) -> dict[str, float]:
    """Median wall-clock milliseconds of each stage of ``pipeline.process(frame)`` over ``repeats`` runs, and
    ``cpu``: the process's CPU milliseconds per frame (every thread: ONNX Runtime's and OpenCV's too), their mean."""
    for _ in range(warmup):
        pipeline.process(frame)
    runs = []
    cpu = time.process_time()
    for _ in range(repeats):
        pipeline.process(frame)
        runs.append(dict(pipeline.last_timings))
    cpu = (time.process_time() - cpu) * 1e3 / repeats
    return {**{k: statistics.median(r[k] for r in runs) for k in runs[0]}, "cpu": cpu}


def core_share(cpu_ms: float, fps: float = CAMERA_FPS) -> float:
    """Percent of one CPU core that ``cpu_ms`` of CPU per frame takes at ``fps`` frames per second."""
    return cpu_ms * fps / 10.0


def time_reference(model: str | Path | Any, frame: np.ndarray, repeats: int = 100,
                   threads: int | None = None) -> dict[str, float]:
    """Median milliseconds per stage of the MediaPipe-style reference (LiteRT selfie model, 31x31 blur, blend).

    ``model``: the .tflite path, or a :class:`~segblur.bench.reference.MediaPipeSelfie` already loaded (so that a
    bad file is said before anything else is timed)."""
    from .reference import MediaPipeSelfie, stage_times

    seg = MediaPipeSelfie(model, threads=threads) if isinstance(model, (str, Path)) else model
    return stage_times(seg, frame, repeats)


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime

    return {"cpu": cpu, "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "python": platform.python_version(), "opencv": cv2.__version__, "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__}


def format_table(results: dict[str, dict[str, float]], fps: float = CAMERA_FPS) -> str:
    """Markdown table: one row per pipeline, CPU per frame and the share of a core at ``fps`` first, then the
    wall-clock milliseconds of each stage, the total and the frames per second that allows."""
    stages: list[str] = []
    for r in results.values():
        stages += [k for k in r if k not in stages and k not in ("total", "cpu")]
    lines = [f"| pipeline | CPU ms/frame | % of a core at {fps:g} fps | " + " | ".join(stages) + " | total ms | fps |",
             "|---|" + "---:|" * (len(stages) + 4)]
    for name, r in results.items():
        cpu = f"{r['cpu']:.2f} | {core_share(r['cpu'], fps):.0f}" if "cpu" in r else " | "
        cells = [f"{r[s]:.2f}" if s in r else "" for s in stages]
        lines.append(f"| {name} | {cpu} | " + " | ".join(cells) + f" | {r['total']:.2f} | {1000 / r['total']:.0f} |")
    return "\n".join(lines)
