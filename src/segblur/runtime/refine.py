"""Low-resolution probability -> full-resolution alpha that follows the photo's edges.

The upsampling is a fast guided filter (He & Sun, 2015): linear coefficients ``a, b`` relating the
probability to the image's luminance are fitted in small windows at the model's resolution, then
upsampled and applied to the full-resolution luminance, so the mask edge snaps to real edges and
hair instead of a blurry bilinear ramp. Threshold and softness are folded into ``a, b`` at low
resolution, so the full-resolution cost is one multiply-add and a clip.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .resize import downscale
from .workspace import Workspace, scratch


@dataclass
class RefineConfig:
    """How a probability map becomes an alpha matte.

    threshold: probability at the middle of the edge ramp. softness: width of the ramp in
    probability units (0 = hard cut). grow: pixels (full resolution) to dilate (> 0) or erode (< 0)
    the foreground. feather: Gaussian sigma in pixels applied to the final alpha. guided: follow
    image edges (else bilinear). radius/eps: guided-filter window (model pixels) and regulariser.
    """

    threshold: float = 0.5
    softness: float = 0.5
    grow: int = 0
    feather: float = 0.0
    guided: bool = True
    radius: int = 2
    eps: float = 1e-3

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be between 0 and 1 (exclusive), got {self.threshold}")
        if not 0.0 <= self.softness <= 1.0:
            raise ValueError(f"softness must be between 0 and 1, got {self.softness}")
        if self.feather < 0:
            raise ValueError(f"feather must be >= 0, got {self.feather}")
        if self.radius < 1 or self.eps <= 0:
            raise ValueError("radius must be >= 1 and eps > 0")


def _box(x: np.ndarray, r: int) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), borderType=cv2.BORDER_REFLECT)


def grow_shrink(prob: np.ndarray, pixels: float) -> np.ndarray:
    """Dilate (pixels > 0) or erode (< 0) a map by ``|pixels|`` pixels (a round structuring element)."""
    r = int(round(abs(pixels)))
    if r == 0:
        return prob
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(prob, k) if pixels > 0 else cv2.erode(prob, k)


def refine(prob_low: np.ndarray, image: np.ndarray, cfg: RefineConfig | None = None,
           ws: Workspace | None = None) -> np.ndarray:
    """Full-resolution alpha (H x W float32 in [0, 1]) from a low-resolution probability map.

    ``image`` is the full-resolution RGB uint8 frame that guides the edges. With a workspace
    ``ws`` the result lives in a reused buffer (valid until the next call with that workspace).
    """
    cfg = cfg or RefineConfig()
    H, W = image.shape[:2]
    h, w = prob_low.shape
    p = prob_low.astype(np.float32, copy=False)
    # Ramp: alpha = (q - threshold) / softness + 0.5, clipped; softness 0 -> a hard step.
    s = max(cfg.softness, 1e-3)
    if cfg.guided:
        gray = image if image.ndim == 2 else \
            cv2.cvtColor(image, cv2.COLOR_RGB2GRAY, dst=scratch(ws, "refine.gray", (H, W), np.uint8))
        g_low = downscale(gray, (w, h), ws, "refine.glow").astype(np.float32) * (1 / 255)
        r = cfg.radius
        mean_i, mean_p = _box(g_low, r), _box(p, r)
        var_i = _box(g_low * g_low, r) - mean_i * mean_i
        cov_ip = _box(g_low * p, r) - mean_i * mean_p
        a = cov_ip / (var_i + cfg.eps)
        b = mean_p - a * mean_i
        a, b = _box(a, r), _box(b, r)
        a *= 1 / (255 * s)  # the full-resolution guide stays in 0..255 units
        b = (b - cfg.threshold) * (1 / s) + 0.5
        A = cv2.resize(a, (W, H), dst=scratch(ws, "refine.A", (H, W)), interpolation=cv2.INTER_LINEAR)
        B = cv2.resize(b, (W, H), dst=scratch(ws, "refine.B", (H, W)), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.multiply(A, gray, dst=scratch(ws, "refine.alpha", (H, W)), dtype=cv2.CV_32F)
        cv2.add(alpha, B, dst=alpha)
    else:
        lin = (p - cfg.threshold) * (1 / s) + 0.5
        alpha = cv2.resize(lin, (W, H), dst=scratch(ws, "refine.alpha", (H, W)), interpolation=cv2.INTER_LINEAR)
    np.clip(alpha, 0.0, 1.0, out=alpha)
    if cfg.grow:
        alpha = grow_shrink(alpha, cfg.grow)
    if cfg.feather > 0:
        alpha = cv2.GaussianBlur(alpha, (0, 0), cfg.feather, dst=scratch(ws, "refine.feather", (H, W)))
    return alpha
