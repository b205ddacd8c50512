"""Video quality against ground truth: segblur's settings beside the MediaPipe reference with a moving average.

The reference is what Linux-Fake-Background-Webcam does: MediaPipe's selfie segmenter on every frame
(:class:`~.reference.MediaPipeSelfie`, LiteRT), its probability averaged over frames with
``cv2.accumulateWeighted`` at weight 0.5 (its ``mask-update-speed`` default of 50). :class:`MovingAverageReference`
runs it as a frame processor, so :func:`~segblur.eval.sequence.evaluate_sequence` scores it with the same code, on
the same frames, in the same run as segblur's pipelines (:func:`compare_on_sequence`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import cv2
import numpy as np

from ..eval.sequence import SequenceSource, evaluate_sequence

LFBW_WEIGHT = 0.5  # Linux-Fake-Background-Webcam's default mask update speed (50 %)


class MovingAverageReference:
    """MediaPipe selfie segmentation per frame, averaged over frames (``weight`` of the new frame; 1 = none).

    A frame processor for :func:`~segblur.eval.sequence.evaluate_sequence`: ``last_alpha`` is the averaged
    probability at the frame's size; the frame itself is returned unchanged (only the mask is scored).
    """

    def __init__(self, segmenter: Any, weight: float = LFBW_WEIGHT) -> None:
        if not 0.0 < weight <= 1.0:
            raise ValueError(f"weight must be in (0, 1], got {weight}")
        self.segmenter, self.weight = segmenter, weight
        self.last_alpha: np.ndarray | None = None
        self.last_timings: dict[str, float] = {}
        self.lookahead = 0

    def reset(self) -> None:
        self.last_alpha = None

    def process(self, image: np.ndarray) -> np.ndarray:
        t0 = time.perf_counter()
        prob = self.segmenter.predict(image)
        if self.last_alpha is None or self.last_alpha.shape != prob.shape:
            self.last_alpha = prob
        else:
            cv2.accumulateWeighted(prob, self.last_alpha, self.weight)
        self.last_timings = {"total": (time.perf_counter() - t0) * 1e3}
        return image

    def push(self, image: np.ndarray) -> np.ndarray:
        return self.process(image)

    def drain(self) -> Iterator[np.ndarray]:
        return iter(())


def compare_on_sequence(processors: dict[str, Callable[[], Any]], source: SequenceSource, region: str = "subject",
                        log: Callable[[str], None] | None = None) -> dict[str, dict[str, Any]]:
    """:func:`~segblur.eval.sequence.evaluate_sequence` of each processor (built by its factory) on ``source``.

    Returns {name: report without the per-frame lists, plus ``seconds`` of CPU time it took}; ``log`` gets one
    line per processor as it finishes.
    """
    results = {}
    for name, make in processors.items():
        processor = make()
        t0 = time.process_time()
        report = evaluate_sequence(processor, source, region)
        report = {k: v for k, v in report.items() if not k.startswith("per_frame")}
        report["cpu_seconds"] = time.process_time() - t0
        results[name] = report
        if log is not None:
            log(format_row(name, report))
    return results


def format_row(name: str, r: dict[str, Any]) -> str:
    """One Markdown table row: IoU mean/min, boundary F1, temporal error, still-scene flicker."""
    fl = r.get("still_flicker") or {}
    return (f"| {name} | {r['iou']:.4f} | {r['iou_min']:.3f} | {r['boundary_f1']:.4f} | {r['temporal_error']:.2f} "
            f"| {fl.get('mean_abs_change', float('nan')):.3f} | {fl.get('flipped_pct', float('nan')):.4f} |")


TABLE_HEAD = ("| pipeline | person IoU (mean per frame) | min | boundary F1 | temporal error (1/255) "
              "| still flicker (1/255) | pixels flipping % |\n|---|---:|---:|---:|---:|---:|---:|")
