"""Low-resolution probability -> full-resolution alpha that follows the photo's edges.

The upsampling is a fast guided filter (He & Sun, 2015): linear coefficients ``a, b`` relating the
probability to the image's luminance are fitted in small windows at the model's resolution, then
upsampled and applied to the full-resolution luminance, so the mask edge snaps to real edges and
hair instead of a blurry bilinear ramp. Threshold and softness are folded into ``a, b`` at low
resolution, so the full-resolution cost is one multiply-add and a clip; asked for an 8-bit matte
(what the pipeline composites with), the clip and the rounding come free with the add's
saturating conversion to uint8.
"""

from __future__ import annotations

import math
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
        for name in ("threshold", "softness", "feather", "eps"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number, got {getattr(self, name)}")
        if int(self.grow) != self.grow:
            raise ValueError(f"grow must be a whole number of pixels, got {self.grow}")
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


def grow_shrink(alpha: np.ndarray, pixels: float) -> np.ndarray:
    """Dilate (pixels > 0) or erode (< 0) a matte (float in [0, 1] or uint8 0..255) by ``|pixels|`` pixels.

    Small radii use a round structuring element on the soft matte. From 16 px on, a Euclidean
    distance transform of the matte's 0.5 level gives the same result at a cost that does not
    grow with the radius (a 1-pixel ramp at the new edge, merged with the original matte).
    """
    H, W = alpha.shape[:2]
    r = min(int(round(abs(pixels))), H + W)
    if r == 0:
        return alpha
    if r < 16:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        return cv2.dilate(alpha, k) if pixels > 0 else cv2.erode(alpha, k)
    one = 255 if alpha.dtype == np.uint8 else 1
    half = 128 if one == 255 else 0.5
    if pixels > 0:  # distance of each background pixel to the foreground
        d = cv2.distanceTransform((alpha < half).astype(np.uint8), cv2.DIST_L2, 5)
        return np.maximum(alpha, (np.clip(r + 0.5 - d, 0, 1) * one).astype(alpha.dtype))
    d = cv2.distanceTransform((alpha >= half).astype(np.uint8), cv2.DIST_L2, 5)
    return np.minimum(alpha, (np.clip(d - r - 0.5, 0, 1) * one).astype(alpha.dtype))


def feather_matte(alpha: np.ndarray, sigma: float, ws: Workspace | None = None) -> np.ndarray:
    """Gaussian-soften a matte; wide sigmas are computed at reduced resolution (same look, flat cost)."""
    H, W = alpha.shape[:2]
    sigma = min(sigma, float(max(H, W)))
    f = int(sigma // 2)
    dst = scratch(ws, "refine.feather", (H, W), alpha.dtype.type)
    if f <= 1:
        return cv2.GaussianBlur(alpha, (0, 0), sigma, dst=dst)
    small = downscale(alpha, (max(1, W // f), max(1, H // f)))
    small = cv2.GaussianBlur(small, (0, 0), sigma * small.shape[1] / W)
    return cv2.resize(small, (W, H), dst=dst, interpolation=cv2.INTER_LINEAR)


def grey_frame(image: np.ndarray, ws: Workspace | None = None, name: str = "refine.gray") -> np.ndarray:
    """Full-resolution grey (H x W uint8) of an RGB or already grey uint8 frame: the guided filter's guide."""
    if image.ndim == 2:
        return image
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY, dst=scratch(ws, name, image.shape[:2], np.uint8))


def guide_lowres(grey: np.ndarray, size: tuple[int, int], ws: Workspace | None = None,
                 name: str = "refine.glow") -> np.ndarray:
    """The grey frame box-shrunk to ``size`` = (w, h), float32 in 0..1.

    The low-resolution guide of :func:`refine`, and the motion thumbnail of the temporal smoother:
    computed once per frame by the pipeline and handed to both.
    """
    w, h = size
    small = downscale(grey, (w, h), ws, name)
    return np.multiply(small, np.float32(1 / 255), out=scratch(ws, name + ".f", (h, w)), dtype=np.float32)


def guided_coefficients(prob_low: np.ndarray, guide_low: np.ndarray, radius: int, eps: float,
                        ) -> tuple[np.ndarray, np.ndarray]:
    """The guided filter's smoothed linear coefficients ``a, b`` (h x w float32): ``prob ~ a * guide + b`` locally.

    Six single-plane box filters: 0.5 ms of CPU at 192x192 with one OpenCV thread where one 4-channel and one
    2-channel filter, with the merges and splits around them, took 0.9 (the same with two threads; same sums).
    """
    g, p = guide_low, prob_low
    mean_i, mean_p, mean_ii, mean_ip = (_box(x, radius) for x in (g, p, g * g, g * p))
    a = (mean_ip - mean_i * mean_p) / (mean_ii - mean_i * mean_i + eps)
    b = mean_p - a * mean_i
    return _box(a, radius), _box(b, radius)


def refine(prob_low: np.ndarray, image: np.ndarray, cfg: RefineConfig | None = None,
           ws: Workspace | None = None, guide_low: np.ndarray | None = None,
           dtype: type = np.float32) -> np.ndarray:
    """Full-resolution alpha (H x W) from a low-resolution probability map: float32 in [0, 1], or with
    ``dtype=np.uint8`` the 8-bit matte 0..255 (what :class:`~segblur.runtime.pipeline.Pipeline` composites with:
    the same alpha, rounded, in fewer and narrower full-resolution passes).

    ``image`` is the full-resolution RGB (or grey) uint8 frame that guides the edges; ``guide_low``
    is its :func:`guide_lowres` at ``prob_low``'s size when the caller already has it. Neither input
    is written to. With a workspace ``ws`` the result lives in a reused buffer (valid until the next
    call with that workspace).
    """
    if dtype not in (np.float32, np.uint8):
        raise ValueError(f"dtype must be np.float32 or np.uint8, got {dtype!r}")
    cfg = cfg or RefineConfig()
    H, W = image.shape[:2]
    h, w = prob_low.shape
    p = prob_low.astype(np.float32, copy=False)
    one = 255.0 if dtype is np.uint8 else 1.0  # alpha units of the result
    # Ramp: alpha = (q - threshold) / softness + 0.5, clipped; softness 0 -> a hard step.
    s = max(cfg.softness, 1e-3)
    if cfg.guided:
        gray = grey_frame(image, ws)
        if guide_low is None:
            g_low = guide_lowres(gray, (w, h), ws)
        elif guide_low.shape != (h, w):
            raise ValueError(f"guide_low has shape {guide_low.shape}, expected the probability's {(h, w)}")
        else:
            g_low = guide_low
        a, b = guided_coefficients(p, g_low, cfg.radius, cfg.eps)
        a *= one / (255 * s)  # the full-resolution guide stays in 0..255 units
        b = ((b - cfg.threshold) * (1 / s) + 0.5) * one
        A = cv2.resize(a, (W, H), dst=scratch(ws, "refine.A", (H, W)), interpolation=cv2.INTER_LINEAR)
        B = cv2.resize(b, (W, H), dst=scratch(ws, "refine.B", (H, W)), interpolation=cv2.INTER_LINEAR)
        alpha = cv2.multiply(A, gray, dst=scratch(ws, "refine.alpha", (H, W)), dtype=cv2.CV_32F)
        if dtype is np.uint8:  # saturating, rounding conversion: the clip to 0..255 for free
            alpha = cv2.add(alpha, B, dst=scratch(ws, "refine.alpha8", (H, W), np.uint8), dtype=cv2.CV_8U)
        else:
            cv2.add(alpha, B, dst=alpha)
    else:
        lin = ((p - cfg.threshold) * (1 / s) + 0.5) * one
        alpha = cv2.resize(lin, (W, H), dst=scratch(ws, "refine.alpha", (H, W)), interpolation=cv2.INTER_LINEAR)
        if dtype is np.uint8:
            np.maximum(alpha, 0.0, out=alpha)
            alpha = cv2.convertScaleAbs(alpha, dst=scratch(ws, "refine.alpha8", (H, W), np.uint8))
    if dtype is not np.uint8:
        np.clip(alpha, 0.0, 1.0, out=alpha)
    if cfg.grow:
        alpha = grow_shrink(alpha, cfg.grow)
    if cfg.feather > 0:
        alpha = feather_matte(alpha, cfg.feather, ws)
    return alpha
