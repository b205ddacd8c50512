"""One frame, one way: segment -> (temporal smoothing) -> refine -> effect -> composite.

Video and camera loops feed frames to a :class:`Pipeline`; they never segment or blur themselves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .compose import composite
from .effects import Color, Effect, ReplaceImage, SolidColor, make_effect
from .refine import RefineConfig, grey_frame, guide_lowres, refine
from .segmenter import Segmenter, as_rgb
from .temporal import TemporalConfig, TemporalSmoother
from .workspace import Workspace

VIEWS = ("effect", "mask")  # what Pipeline.process returns (the live preview's m key switches)


class Pipeline:
    """Blur (or otherwise filter) everything except the kept classes of each frame.

    Every argument is optional: the defaults are the default person model and a Gaussian blur.
    ``keep`` names the classes left untouched; ``effect``/``strength``/``background``/``color``
    choose what happens to the rest; ``threshold``/``softness``/``grow``/``feather``/``guided``
    shape the mask edge (see :class:`~segblur.runtime.refine.RefineConfig`). ``invert`` applies
    the effect to the kept classes instead (blur the people, keep the scene). Passing a
    :class:`Segmenter` shares it; ``keep`` then changes that segmenter's kept classes.
    ``temporal`` (True or a :class:`~segblur.runtime.temporal.TemporalConfig`) smooths the
    model's probabilities across consecutive :meth:`process` calls, for video and camera streams;
    call :meth:`reset` when a new stream starts. Off by default (independent images).
    :attr:`view` chooses what :meth:`process` returns: the composited frame or the mask.
    """

    def __init__(self, model: str | Path | Segmenter = "default", effect: str | Effect = "blur",
                 strength: float | None = None, keep: Sequence[str] | None = None,
                 background: np.ndarray | str | Path | None = None, color: Color | str | None = None,
                 threshold: float = 0.5, softness: float = 0.5, grow: int = 0, feather: float = 0.0,
                 guided: bool = True, invert: bool = False, providers: Sequence[str] | None = None,
                 threads: int | None = None, temporal: bool | TemporalConfig = False) -> None:
        self.segmenter = model if isinstance(model, Segmenter) else \
            Segmenter(model, providers=providers, threads=threads)
        if keep is not None:
            self.segmenter.set_keep(keep)
        self.refine_config = RefineConfig(threshold=threshold, softness=softness, grow=grow, feather=feather,
                                          guided=guided)
        self.invert = invert
        self.effect = make_effect(effect, strength, background=background, color=color)
        self.last_timings: dict[str, float] = {}
        self.last_alpha: np.ndarray | None = None  # valid until the next frame (reused buffer)
        self._view = "effect"
        self._ws = Workspace()
        self.smoother: TemporalSmoother | None = None
        self.set_temporal(temporal)

    @property
    def temporal(self) -> TemporalConfig | None:
        """The temporal smoothing settings in use, or None when frames are independent."""
        return self.smoother.config if self.smoother is not None else None

    def set_temporal(self, config: bool | TemporalConfig) -> None:
        """Turn temporal smoothing on (True: default settings, or a config) or off (False); starts afresh."""
        if isinstance(config, TemporalConfig):
            self.smoother = TemporalSmoother(config)
        elif config is True or config is False:
            self.smoother = TemporalSmoother() if config else None
        else:
            raise ValueError(f"temporal must be True, False or a TemporalConfig, got {config!r}")

    @property
    def view(self) -> str:
        """What :meth:`process` returns: ``"effect"`` (the composited frame) or ``"mask"`` (the alpha as grey RGB)."""
        return self._view

    @view.setter
    def view(self, view: str) -> None:
        if view not in VIEWS:
            raise ValueError(f"view must be one of {', '.join(VIEWS)}, got {view!r}")
        self._view = view

    def reset(self) -> None:
        """Start a new stream: forget the temporal smoothing state (no-op when smoothing is off)."""
        if self.smoother is not None:
            self.smoother.reset()

    def set_effect(self, effect: str | Effect | None = None, strength: float | None = None,
                   background: np.ndarray | str | Path | None = None, color: Color | str | None = None) -> None:
        """Switch effect, strength, background picture or colour between frames (e.g. while a stream runs).

        Whatever is not given carries over from the current effect where it applies.
        """
        if isinstance(effect, Effect) and (strength is not None or background is not None or color is not None):
            raise ValueError("set strength, background and colour on the Effect object itself")
        name = self.effect.name if effect is None else (effect.name if isinstance(effect, Effect) else effect)
        if strength is None and name == self.effect.name:
            strength = self.effect.strength
        if background is None and isinstance(self.effect, ReplaceImage):
            background = self.effect.image
        if color is None and isinstance(self.effect, SolidColor):
            color = self.effect.color
        self.effect = make_effect(effect if isinstance(effect, Effect) else name, strength,
                                  background=background, color=color)

    def mask(self, image: np.ndarray) -> np.ndarray:
        """The alpha :meth:`process` composites with: refined, full resolution, inverted if ``invert``.

        1 = left as is (the kept classes, unless inverted), 0 = effect applied; H x W float32.
        Not temporally smoothed: the image is treated on its own and the stream state is untouched.
        """
        rgb = as_rgb(image)
        return self._matte(self.segmenter.predict_lowres(rgb), rgb)

    def _matte(self, prob: np.ndarray, rgb: np.ndarray, ws: Workspace | None = None,
               guide_low: np.ndarray | None = None) -> np.ndarray:
        alpha = refine(prob, rgb, self.refine_config, ws, guide_low)
        return np.subtract(1.0, alpha, out=alpha) if self.invert else alpha

    def process(self, image: np.ndarray) -> np.ndarray:
        """Apply the effect to one RGB uint8 frame (any size); returns an RGB uint8 frame of the same size.

        With temporal smoothing on, this frame continues the stream of the previous calls (the
        ``segment`` timing then includes the smoothing; the grey guide it shares with refinement
        counts as ``refine``). In the ``"mask"`` :attr:`view` the frame is still composited (so the
        timings stay comparable) and the alpha is returned as grey RGB: white where the frame is left as it is.
        """
        t0 = time.perf_counter()
        rgb = as_rgb(image)
        prob = self.segmenter.predict_lowres(rgb)
        guide, guide_low, t_guide = rgb, None, 0.0
        if self.smoother is not None:
            # One grey frame and one low-resolution guide per frame, for both the smoother and refine.
            tg = time.perf_counter()
            guide = grey_frame(rgb, self._ws)
            guide_low = guide_lowres(guide, (prob.shape[1], prob.shape[0]), self._ws)
            t_guide = time.perf_counter() - tg
            prob = self.smoother.smooth(prob, guide_low, rgb.shape)
        t1 = time.perf_counter()
        alpha = self._matte(prob, guide, self._ws, guide_low)
        t2 = time.perf_counter()
        background = self.effect.render(rgb, alpha, self._ws)
        t3 = time.perf_counter()
        out = composite(rgb, background, alpha, self._ws)
        t4 = time.perf_counter()
        self.last_alpha = alpha
        self.last_timings = {"segment": (t1 - t0 - t_guide) * 1e3, "refine": (t2 - t1 + t_guide) * 1e3,
                             "effect": (t3 - t2) * 1e3, "compose": (t4 - t3) * 1e3, "total": (t4 - t0) * 1e3}
        if self._view == "mask":
            return cv2.cvtColor((alpha * 255).astype(np.uint8), cv2.COLOR_GRAY2RGB)
        return out

    __call__ = process
