"""The post-processing as it was before it was fused into 8-bit passes: the reference the fused passes are checked
against (tests/runtime/test_fused.py). Float32 alpha at full resolution, premultiplication in float, one
``cv2.blendLinear`` blend; the effects' own filters are reused (only the full-resolution helpers differ).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import cv2
import numpy as np

from segblur.runtime import effects
from segblur.runtime.compose import FLOOR
from segblur.runtime.pipeline import Pipeline
from segblur.runtime.refine import refine
from segblur.runtime.resize import downscale, halve
from segblur.runtime.segmenter import as_rgb


def background_premultiplied(frame: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = np.maximum(1.0 - alpha.astype(np.float32), FLOOR)
    return np.multiply(frame, w[..., None], dtype=np.float32), w


def weighted_downscale(frame: np.ndarray, alpha: np.ndarray, size: tuple[int, int],
                       ws: object = None) -> tuple[np.ndarray, np.ndarray]:
    if frame.shape[1] >= 4 * size[0] and frame.shape[0] >= 4 * size[1]:
        frame, alpha = halve(frame), halve(alpha)
    prem, w = background_premultiplied(frame, alpha)
    return downscale(prem, size), downscale(w, size)


def weighted_area(frame: np.ndarray, alpha: np.ndarray, size: tuple[int, int], ws: object = None,
                  exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    prem, w = background_premultiplied(frame, alpha)
    return (cv2.resize(prem, size, interpolation=cv2.INTER_AREA), cv2.resize(w, size, interpolation=cv2.INTER_AREA))


def composite(frame: np.ndarray, background: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    H, W = frame.shape[:2]
    a = alpha.astype(np.float32)
    if background.shape[:2] != (H, W):
        background = cv2.resize(background, (W, H), interpolation=cv2.INTER_LINEAR)
    return cv2.blendLinear(frame, background, a, 1.0 - a)


@contextlib.contextmanager
def unfused_helpers() -> Iterator[None]:
    """Effects render with the float helpers above while inside the block."""
    saved = effects.weighted_downscale, effects.weighted_area
    effects.weighted_downscale, effects.weighted_area = weighted_downscale, weighted_area
    try:
        yield
    finally:
        effects.weighted_downscale, effects.weighted_area = saved


def background(effect: effects.Effect, frame: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``effect.render`` of a float alpha through the float helpers."""
    with unfused_helpers():
        return effect.render(frame, alpha.astype(np.float32))


def process(pipe: Pipeline, image: np.ndarray) -> np.ndarray:
    """:meth:`Pipeline.process` of one frame, unfused (no temporal smoothing)."""
    rgb = as_rgb(image)
    alpha = refine(pipe.segmenter.predict_lowres(rgb), rgb, pipe.refine_config)
    if pipe.invert:
        alpha = 1.0 - alpha
    return composite(rgb, background(pipe.effect, rgb, alpha), alpha)
