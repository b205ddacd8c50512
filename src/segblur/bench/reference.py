"""MediaPipe-style reference pipeline: selfie segmentation on LiteRT + full-resolution Gaussian background blur.

This is the baseline segblur is benchmarked against. It runs the ``selfie_segmentation.tflite`` model from the
``mediapipe==0.10.21`` wheel (fetched by ``benchmarks/fetch_reference.py``, or ``make reference``) with the LiteRT
interpreter, using the
same pre/post-processing as MediaPipe's ``SelfieSegmentationCpu`` graph:

- input: RGB stretched (no letterbox) to the model size with bilinear resampling, float32 in [0, 1];
- output: the model already ends in a sigmoid, so the tensor is the person probability (graph activation NONE),
  resized bilinearly back to the frame size.

The blur/blend step is written the way the MediaPipe Python selfie-segmentation example does it: plain numpy.
Only numpy, OpenCV and ai-edge-litert (the ``bench`` extra, imported when a model is loaded) are needed.
"""

from __future__ import annotations

import os
import statistics
import time

import cv2
import numpy as np

BLUR_KSIZE = (31, 31)


class MediaPipeSelfie:
    """MediaPipe selfie segmentation model run with LiteRT; ``predict`` mirrors MediaPipe's CPU graph."""

    def __init__(self, model_path: str | os.PathLike[str], threads: int | None = None) -> None:
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise RuntimeError("the reference needs LiteRT: pip install 'segblur[bench]' (or make reference)") from None
        self.interpreter = Interpreter(model_path=str(model_path), num_threads=threads)
        self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        out = self.interpreter.get_output_details()[0]
        if inp["dtype"] != np.float32 or len(inp["shape"]) != 4 or inp["shape"][3] != 3:
            raise ValueError(f"unexpected model input: shape {inp['shape']}, dtype {inp['dtype']}")
        self.input_index = int(inp["index"])
        self.output_index = int(out["index"])
        self.input_height = int(inp["shape"][1])
        self.input_width = int(inp["shape"][2])

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        """Return the float32 HxW person probability in [0, 1] for an RGB uint8 HxWx3 image, at the image's size."""
        h, w = rgb.shape[:2]
        x = cv2.resize(rgb, (self.input_width, self.input_height), interpolation=cv2.INTER_LINEAR)
        x = (x.astype(np.float32) / 255.0)[None]
        self.interpreter.set_tensor(self.input_index, x)
        self.interpreter.invoke()
        prob = self.interpreter.get_tensor(self.output_index)[0, :, :, 0]
        return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


def blur_background(frame: np.ndarray) -> np.ndarray:
    """Blur the whole frame at full resolution (the background the person is composited onto)."""
    return cv2.GaussianBlur(frame, BLUR_KSIZE, 0)


def blend(frame: np.ndarray, blurred: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Soft-composite ``frame`` over ``blurred`` with the person mask, in float32 numpy as MediaPipe users do."""
    m = mask[..., None]
    out = frame.astype(np.float32) * m + blurred.astype(np.float32) * (1.0 - m)
    return out.astype(np.uint8)


def reference_process(seg: MediaPipeSelfie, frame_rgb: np.ndarray) -> np.ndarray:
    """Blur the background of one RGB uint8 frame, MediaPipe style (segment, blur, blend); returns uint8 RGB."""
    mask = seg.predict(frame_rgb)
    blurred = blur_background(frame_rgb)
    return blend(frame_rgb, blurred, mask)


class ReferencePipeline:
    """The reference as a frame processor (``process``, ``reset``, ``last_timings``, ``last_alpha``), so that the
    stream benchmark runs it through the same camera loop as segblur."""

    def __init__(self, seg: MediaPipeSelfie) -> None:
        self.seg = seg
        self.last_timings: dict[str, float] = {}
        self.last_alpha: np.ndarray | None = None

    def process(self, image: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        self.last_alpha = self.seg.predict(image)
        t1 = time.perf_counter()
        out = blend(image, blur_background(image), self.last_alpha)
        t2 = time.perf_counter()
        self.last_timings = {"segment": (t1 - t0) * 1e3, "compose": (t2 - t1) * 1e3, "total": (t2 - t0) * 1e3}
        return out

    def reset(self) -> None:
        """Frames are independent: nothing to forget."""


def stage_times(seg: MediaPipeSelfie, frame: np.ndarray, repeats: int = 50) -> dict[str, float]:
    """Median wall-clock milliseconds of each stage of ``reference_process`` (segment, blur, blend, total) and
    ``cpu``, the process's CPU milliseconds per frame (LiteRT's threads too), their mean."""
    reference_process(seg, frame)  # warm-up (first invoke allocates / packs weights)
    times: dict[str, list[float]] = {"segment": [], "blur": [], "blend": [], "total": []}
    cpu = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        mask = seg.predict(frame)
        t1 = time.perf_counter()
        blurred = blur_background(frame)
        t2 = time.perf_counter()
        blend(frame, blurred, mask)
        t3 = time.perf_counter()
        times["segment"].append(t1 - t0)
        times["blur"].append(t2 - t1)
        times["blend"].append(t3 - t2)
        times["total"].append(t3 - t0)
    cpu = (time.process_time() - cpu) * 1e3 / repeats
    return {**{k: 1000.0 * statistics.median(v) for k, v in times.items()}, "cpu": cpu}


