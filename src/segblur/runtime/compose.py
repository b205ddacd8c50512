"""Halo-free compositing: the foreground stays sharp, and its colours never bleed into the background.

Two pieces. :func:`weighted_downscale` premultiplies the frame by the background weight
(1 - alpha) before any neighbourhood filter, so a blur of the background only averages
background pixels (the normalised convolution Google Meet describes); a small floor weight keeps
the result defined deep inside the foreground, where the alpha hides it anyway.
:func:`composite` then blends ``alpha * frame + (1 - alpha) * background``.

Full-resolution passes run on 8-bit data (the alpha as 0..255, see :func:`alpha8`): each pass
reads and writes a quarter of the bytes of a float32 one, and OpenCV's integer kernels are the
fastest it has. Float32 is kept for the small, low-resolution images the filters work on. The blend
multiplies only where the matte is neither 0 nor 255 (:mod:`.band`) and copies elsewhere.
"""

from __future__ import annotations

import cv2
import numpy as np

from .band import band_of
from .resize import downscale, halve
from .workspace import Workspace, scratch

# Weight every pixel keeps, so the normalised filter never divides by zero deep inside the foreground
# (where alpha hides the result anyway). Small enough that a block or kernel that is 99 % foreground
# still takes under 1 % of its colour from the foreground.
FLOOR = 1e-4


def alpha8(alpha: np.ndarray, ws: Workspace | None = None, name: str = "alpha8") -> np.ndarray:
    """An alpha matte as H x W uint8 0..255: uint8 is taken as is, a float matte in [0, 1] is rounded."""
    if alpha.dtype == np.uint8:
        return alpha
    dst = scratch(ws, name, alpha.shape[:2], np.uint8)
    return cv2.convertScaleAbs(np.clip(alpha, 0, 1, dtype=np.float32), dst=dst, alpha=255.0)


def weighted_area(frame: np.ndarray, alpha: np.ndarray, size: tuple[int, int], ws: Workspace | None = None,
                  exact: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Box-filtered ``frame * w`` (float32 h x w x 3) and ``w`` (h x w) at ``size`` = (w, h), ``w = 1 - alpha + FLOOR``.

    The product is exact: 8-bit colour times 8-bit weight in 16 bits (the weight rides along as a fourth
    channel, 255 x w), so one area reduction shrinks both; the floor is added at the small size.
    ``exact`` reduces in one step (true block means when the size divides the frame's) instead of by
    :func:`~segblur.runtime.resize.downscale`'s faster halvings.
    """
    h, w_ = frame.shape[:2]
    a = alpha8(alpha, ws, "wa.alpha8")
    weight = cv2.bitwise_not(a, dst=scratch(ws, "wa.w", (h, w_), np.uint8))
    rgbw = cv2.cvtColor(frame, cv2.COLOR_RGB2RGBA, dst=scratch(ws, "wa.rgbw", (h, w_, 4), np.uint8))
    w4 = cv2.merge([weight] * 4, dst=scratch(ws, "wa.w4", (h, w_, 4), np.uint8))
    # numpy's u8 x u8 -> u16 multiply (0.30 ms for 640x360x4) is 5x faster than OpenCV's (1.45 ms)
    prem = np.multiply(rgbw, w4, out=scratch(ws, "wa.prem", (h, w_, 4), np.uint16), dtype=np.uint16)
    if exact:
        small = cv2.resize(prem, size, interpolation=cv2.INTER_AREA).astype(np.float32)
        plain = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    else:
        small = downscale(prem, size, ws, "wa.prem_s").astype(np.float32)
        # The floor's colour only shows where the weight is ~0, i.e. under an alpha of ~255: point samples do
        # (0.03 ms where a box-filtered copy of the frame took 0.4 ms at 720p).
        plain = cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR)
    colour = np.multiply(small[..., :3], np.float32(1 / 255))  # colour (0..255) x weight (0..1)
    colour += np.multiply(plain, np.float32(FLOOR), dtype=np.float32)
    weights = np.multiply(small[..., 3], np.float32(1 / 65025))
    weights += np.float32(FLOOR)
    return colour, weights


def weighted_downscale(frame: np.ndarray, alpha: np.ndarray, size: tuple[int, int],
                       ws: Workspace | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Background-premultiplied frame and background weight at ``size`` = (w, h): float32 HxWx3, HxW.

    The premultiplication happens at most one 2x step below full resolution (a leak of under one
    pixel), so it costs a quarter of a full-resolution pass.
    """
    if frame.shape[1] >= 4 * size[0] and frame.shape[0] >= 4 * size[1]:
        frame, alpha = halve(frame, ws, "wd.frame"), halve(alpha8(alpha, ws, "wd.alpha8"), ws, "wd.alpha")
    return weighted_area(frame, alpha, size, ws)


def unpremultiply(prem: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Premultiplied colour / weight -> uint8 colour."""
    out = prem / np.maximum(weight, 1e-6)[..., None]
    return np.clip(out, 0, 255).astype(np.uint8)


def buffer(ws: Workspace | None, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A uint8 array to write parts of: the workspace's, or a new one."""
    return ws.get(name, shape, np.uint8) if ws is not None else np.empty(shape, np.uint8)


class Blend:
    """``alpha * frame + (1 - alpha) * background`` made ready for one matte and background.

    The background's share ``(1 - alpha) * background`` (upsampled first when smaller) is computed once; each
    frame then costs one multiply and one add: the governor's reused frames blend a new frame with the last
    matte and background this way. Both products are rounded once (``cv2.multiply`` with a 1/255 scale), so a
    blend is within one grey level of the exact one, and alpha 255 gives the frame exactly. The products run only
    in the matte's mixed runs (:mod:`.band`); where it is 255 the frame is copied, where 0 the background (bit for
    bit what blending everywhere gives). With a workspace the prepared planes live in its buffers (valid until the
    next Blend made with it); ``once``: the blend is applied to one frame only (:func:`composite`).
    """

    def __init__(self, background: np.ndarray, alpha: np.ndarray, shape: tuple[int, ...],
                 ws: Workspace | None = None, once: bool = False) -> None:
        H, W = shape[:2]
        a = alpha8(alpha, ws, "compose.alpha8")
        self.band = band_of(a)
        self.once = once
        self.back = np.empty((H, W, 3), np.uint8) if once else buffer(ws, "compose.back", (H, W, 3))
        if background.shape[:2] != (H, W):
            cv2.resize(background, (W, H), dst=self.back, interpolation=cv2.INTER_LINEAR)
        else:
            np.copyto(self.back, background)
        self.alpha3 = buffer(ws, "compose.a3", (H, W, 3))
        inverse = buffer(ws, "compose.inv3", (H, W, 3))
        for r in self.band.mixed:
            a3 = cv2.cvtColor(a[r], cv2.COLOR_GRAY2RGB, dst=self.alpha3[r])
            cv2.multiply(self.back[r], cv2.bitwise_not(a3, dst=inverse[r]), dst=self.back[r], scale=1 / 255)

    def apply(self, frame: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
        """The blend for ``frame`` (uint8 RGB of the prepared size): always a new array (callers may keep frames).

        A Blend made ``once`` blends in place of its prepared background (no copy: 0.25 ms at 720p) and cannot
        be applied again.
        """
        if self.back is None:
            raise RuntimeError("this Blend was made once and is already applied")
        out = self.back if self.once else self.back.copy()
        if self.once:
            self.back = None
        front = buffer(ws, "compose.front", frame.shape)
        for r in self.band.solid:
            out[r] = frame[r]
        for r in self.band.mixed:
            cv2.add(out[r], cv2.multiply(frame[r], self.alpha3[r], dst=front[r], scale=1 / 255), dst=out[r])
        return out


def composite(frame: np.ndarray, background: np.ndarray, alpha: np.ndarray,
              ws: Workspace | None = None) -> np.ndarray:
    """``alpha * frame + (1 - alpha) * background`` for uint8 RGB images and an HxW alpha (uint8 0..255 or float).

    A smaller ``background`` is upsampled bilinearly. The result is always a new array (callers may keep
    frames); only scratch space is reused. See :class:`Blend` for the rounding.
    """
    return Blend(background, alpha, frame.shape, ws, once=True).apply(frame, ws)
