"""Effects applied to the background (or to whichever classes are not kept).

Each effect renders a full-size replacement background from the frame and the foreground alpha
(1 - alpha). Neighbourhood effects (blurs, pixelate) filter the *premultiplied* frame and divide
by the filtered weight, so foreground colours never leak into the result (no halo), and they work
at a reduced resolution chosen so the result is indistinguishable from a full-resolution filter:
a blur of sigma 18 px computed at 1/6 scale with sigma 3 px, then upsampled, looks the same.

``strength`` is in [0, 1] for every effect; each effect maps it to its own parameter relative to
the frame's short side, so a given strength looks the same at any resolution.

A background picture given as a path is read with :func:`segblur.media.images.read_image`: reading and
validating still images is the one part of media the runtime stands on, and it imports nothing of the runtime
(media's loops sit above the runtime; ``tests/runtime/test_frames.py`` keeps both directions honest).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from .. import names
from ..media.images import read_image
from .colors import CSS_COLORS
from .compose import FLOOR, unpremultiply, weighted_area, weighted_downscale
from .frames import as_rgb
from .workspace import Workspace

Color = tuple[int, int, int]


class Effect:
    """Base class: ``render(frame, alpha) -> background`` (uint8 RGB, frame-sized or a smaller,
    smooth image with the frame's aspect ratio that the compositor upsamples bilinearly)."""

    name: ClassVar[str] = ""
    default_strength: ClassVar[float] = 0.5

    def __init__(self, strength: float | None = None) -> None:
        s = self.default_strength if strength is None else float(strength)
        if not (0.0 <= s <= 1.0) or math.isnan(s):
            raise ValueError(f"strength must be between 0 and 1, got {strength}")
        self.strength = s

    def render(self, frame: np.ndarray, alpha: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
        """Background image for ``frame`` given the foreground alpha (HxW, float32 in [0, 1] or uint8 0..255)."""
        raise NotImplementedError


class _LowResFilter(Effect):
    """A normalised neighbourhood filter computed at reduced resolution and upsampled."""

    low_sigma: ClassVar[float] = 3.0  # filter size (in low-res pixels) the scale is chosen for
    scale_factor: ClassVar[float] = 0.05  # full-res filter size = strength * factor * short side

    def size_px(self, frame: np.ndarray) -> float:
        return self.strength * self.scale_factor * min(frame.shape[:2])

    def filter(self, x: np.ndarray, size_low: float) -> np.ndarray:
        raise NotImplementedError

    def downscaled(self, frame: np.ndarray, alpha: np.ndarray,
                   ws: Workspace | None) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(premultiplied frame, weight, filter size) at the working resolution; None if too weak to show."""
        H, W = frame.shape[:2]
        size = self.size_px(frame)
        if size < 0.5:
            return None
        k = min(1.0, self.low_sigma / size)
        lw, lh = max(8, round(W * k)), max(8, round(H * k))
        prem, w = weighted_downscale(frame, alpha, (lw, lh), ws)
        return prem, w, size * lw / W

    def render(self, frame: np.ndarray, alpha: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
        low = self.downscaled(frame, alpha, ws)
        if low is None:
            return frame
        prem, w, size_low = low
        return unpremultiply(self.filter(prem, size_low), self.filter(w, size_low))


class GaussianBlur(_LowResFilter):
    """Gaussian blur; strength 1 = sigma of 5 % of the short side (36 px at 720p)."""

    name = "blur"

    def filter(self, x: np.ndarray, size_low: float) -> np.ndarray:
        return cv2.GaussianBlur(x, (0, 0), size_low, borderType=cv2.BORDER_REPLICATE)


class BoxBlur(_LowResFilter):
    """Stack blur (a fast near-Gaussian box-filter cascade); strength 1 = radius 8 % of the short side."""

    name = "box"
    scale_factor = 0.08
    low_sigma = 4.0

    def filter(self, x: np.ndarray, size_low: float) -> np.ndarray:
        k = 2 * max(1, round(size_low)) + 1
        return cv2.stackBlur(x, (k, k))


@functools.lru_cache(maxsize=16)
def _disc(radius: int) -> np.ndarray:
    """Normalised disc kernel of ``radius`` (cached: the same few radii recur every frame)."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1)).astype(np.float32)
    return disc / disc.sum()


class LensBlur(_LowResFilter):
    """Lens ("bokeh") blur: a disc kernel on gamma-expanded colour, so highlights bloom into discs."""

    name = "bokeh"
    scale_factor = 0.06
    low_sigma = 4.0
    gamma: ClassVar[float] = 2.6

    def filter(self, x: np.ndarray, size_low: float) -> np.ndarray:
        return cv2.filter2D(x, -1, _disc(max(1, round(size_low))), borderType=cv2.BORDER_REPLICATE)

    def render(self, frame: np.ndarray, alpha: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
        low = self.downscaled(frame, alpha, ws)
        if low is None:
            return frame
        prem, w, size_low = low
        colour = prem / np.maximum(w, 1e-6)[..., None] * (1 / 255)
        # Re-premultiply in linear light with the floor taken out again: the gamma compression at the
        # end would otherwise lift the floor's tiny share of foreground colour into a visible halo.
        w = np.maximum(w - FLOOR, 0) + 1e-9
        lin = np.power(np.clip(colour, 0, 1), self.gamma) * w[..., None]
        out = self.filter(lin, size_low) / np.maximum(self.filter(w, size_low), 1e-6)[..., None]
        return (np.power(np.clip(out, 0, 1), 1 / self.gamma) * 255).astype(np.uint8)


class Pixelate(Effect):
    """Mosaic of background-only block averages; strength 1 = blocks of 1/8 of the short side."""

    name = "pixelate"

    def render(self, frame: np.ndarray, alpha: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
        H, W = frame.shape[:2]
        block = max(1, round(self.strength * min(H, W) / 8))
        if block <= 1:
            return frame
        # Pad to whole blocks so an exact integer INTER_AREA reduction gives true block means.
        gw, gh = math.ceil(W / block), math.ceil(H / block)
        pad_h, pad_w = gh * block - H, gw * block - W
        if pad_h or pad_w:
            frame = cv2.copyMakeBorder(frame, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
            alpha = cv2.copyMakeBorder(alpha, 0, pad_h, 0, pad_w, cv2.BORDER_REPLICATE)
        small = unpremultiply(*weighted_area(frame, alpha, (gw, gh), ws, exact=True))
        big = cv2.resize(small, (gw * block, gh * block), interpolation=cv2.INTER_NEAREST)
        return np.ascontiguousarray(big[:H, :W])


class Grayscale(Effect):
    """Desaturate; strength is the amount (1 = fully grey)."""

    name = "grayscale"
    default_strength = 1.0

    def render(self, frame: np.ndarray, alpha: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
        gray = cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        if self.strength >= 1.0:
            return gray
        return cv2.addWeighted(gray, self.strength, frame, 1.0 - self.strength, 0)


class SolidColor(Effect):
    """Fill with one colour (a green screen, say); strength is its opacity."""

    name = "color"
    default_strength = 1.0

    def __init__(self, strength: float | None = None, color: Color | str = (0, 177, 64)) -> None:
        super().__init__(strength)
        self.color = parse_color(color)
        self._lut: np.ndarray | None = None

    def render(self, frame: np.ndarray, alpha: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
        if self.strength >= 1.0:  # a flat image: tiny, the compositor upsamples it for free
            return np.full((max(1, frame.shape[0] // 16), max(1, frame.shape[1] // 16), 3), self.color, np.uint8)
        if self._lut is None:  # tint = one table lookup per pixel: v * (1 - s) + colour * s
            v = np.arange(256, dtype=np.float32)[:, None]
            lut = v * (1 - self.strength) + np.array(self.color, np.float32)[None] * self.strength
            self._lut = np.clip(np.round(lut), 0, 255).astype(np.uint8).reshape(256, 1, 3)
        return cv2.LUT(frame, self._lut)


class ReplaceImage(Effect):
    """Replace the background with a picture, scaled to cover the frame; strength blurs the picture."""

    name = "image"
    default_strength = 0.0

    def __init__(self, strength: float | None = None, background: np.ndarray | str | Path | None = None) -> None:
        super().__init__(strength)
        if background is None:
            raise ValueError("the image effect needs a background image")
        self.image = as_rgb(read_image(background) if isinstance(background, (str, Path)) else background)
        self._cache: tuple[tuple[int, int], np.ndarray] | None = None

    def render(self, frame: np.ndarray, alpha: np.ndarray, ws: Workspace | None = None) -> np.ndarray:
        H, W = frame.shape[:2]
        if self._cache is None or self._cache[0] != (H, W):
            self._cache = ((H, W), self._fit(H, W))
        return self._cache[1]

    def _fit(self, H: int, W: int) -> np.ndarray:
        h, w = self.image.shape[:2]
        s = max(W / w, H / h)
        nw, nh = max(W, round(w * s)), max(H, round(h * s))
        img = cv2.resize(self.image, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        x0, y0 = (nw - W) // 2, (nh - H) // 2
        img = np.ascontiguousarray(img[y0:y0 + H, x0:x0 + W])
        if self.strength > 0:
            img = GaussianBlur(self.strength).render(img, np.zeros((H, W), np.float32))
            img = cv2.resize(img, (W, H), interpolation=cv2.INTER_LINEAR)
        return img


EFFECTS: dict[str, type[Effect]] = {c.name: c for c in
                                    (GaussianBlur, BoxBlur, LensBlur, Pixelate, Grayscale, SolidColor, ReplaceImage)}


def list_effects() -> list[str]:
    """Names accepted by :func:`make_effect` and the CLI's ``--effect`` (:data:`segblur.names.EFFECTS`)."""
    return list(names.EFFECTS)


def make_effect(name: str | Effect, strength: float | None = None, **options) -> Effect:
    """Build an effect by name (``blur``, ``box``, ``bokeh``, ``pixelate``, ``grayscale``, ``color``, ``image``)."""
    if isinstance(name, Effect):
        return name
    try:
        cls: Callable[..., Effect] = EFFECTS[name]
    except KeyError:
        raise ValueError(f"unknown effect {name!r}; choose from {', '.join(EFFECTS)}") from None
    kwargs = {}
    if name == "color" and options.get("color") is not None:
        kwargs["color"] = options["color"]
    if name == "image":
        kwargs["background"] = options.get("background")
    return cls(strength, **kwargs)


# Chroma-key shades for green and blue (what a green screen is); every other CSS colour name as CSS defines it.
_NAMED = {**CSS_COLORS, "green": (0, 177, 64), "blue": (0, 71, 187)}


def parse_color(color: Color | str) -> Color:
    """``(r, g, b)``, ``"#RRGGBB"``, ``"#RGB"``, ``"r,g,b"`` or a CSS colour name -> an RGB tuple.

    ``green`` and ``blue`` are the chroma-key shades (0, 177, 64) and (0, 71, 187); ``lime`` and ``#0000ff`` give the
    pure ones.
    """
    if isinstance(color, str):
        c = color.strip().lower()
        if c in _NAMED:
            return _NAMED[c]
        try:
            if c.startswith("#") and len(c) in (4, 7):
                digits = c[1:] if len(c) == 7 else "".join(ch * 2 for ch in c[1:])
                return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
            parts = [int(v) for v in c.split(",")]
        except ValueError:
            parts = []
        if len(parts) != 3:
            raise ValueError(f"cannot read colour {color!r}: use #RRGGBB, R,G,B or a CSS colour name "
                             "(red, navy, hotpink...)")
        color = (parts[0], parts[1], parts[2])
    if len(color) != 3 or not all(0 <= int(v) <= 255 for v in color):
        raise ValueError(f"colour {color!r} must be three values in 0..255")
    return (int(color[0]), int(color[1]), int(color[2]))
