"""One frame, one way: segment -> (temporal smoothing) -> refine -> effect -> composite.

Video and camera loops feed frames to a :class:`Pipeline`; they never segment or blur themselves.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from .compose import Blend, composite
from .effects import Color, Effect, ReplaceImage, SolidColor, make_effect
from .governor import HOLD, MODEL, REUSE, Governor, GovernorConfig
from .refine import RefineConfig, grey_frame, guide_lowres, refine
from .segmenter import Segmenter, as_rgb
from .temporal import TemporalConfig, TemporalSmoother
from .workspace import Workspace

VIEWS = ("effect", "mask")  # what Pipeline.process returns (the live preview's m key switches)
CATCH_UP = 8  # smoothing steps at most for frames the governor skipped (a weight of 0.3 leaves 6 % after 8)


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
    ``governor`` (True or a :class:`~segblur.runtime.governor.GovernorConfig`) lets a stream skip the work a frame
    does not need (the model on a frame that barely moved, everything but the blend on a still one) and hold a
    CPU or frame-rate budget; off by default.
    """

    def __init__(self, model: str | Path | Segmenter = "default", effect: str | Effect = "blur",
                 strength: float | None = None, keep: Sequence[str] | None = None,
                 background: np.ndarray | str | Path | None = None, color: Color | str | None = None,
                 threshold: float = 0.5, softness: float = 0.5, grow: int = 0, feather: float = 0.0,
                 guided: bool = True, invert: bool = False, providers: Sequence[str] | None = None,
                 threads: int | None = None, temporal: bool | TemporalConfig = False,
                 governor: bool | GovernorConfig | Governor = False) -> None:
        self.segmenter = model if isinstance(model, Segmenter) else \
            Segmenter(model, providers=providers, threads=threads)
        if keep is not None:
            self.segmenter.set_keep(keep)
        self.refine_config = RefineConfig(threshold=threshold, softness=softness, grow=grow, feather=feather,
                                          guided=guided)
        self.invert = invert
        self.effect = make_effect(effect, strength, background=background, color=color)
        self.last_timings: dict[str, float] = {}
        self.last_alpha8: np.ndarray | None = None  # the 8-bit matte of the last frame (reused buffer)
        self._view = "effect"
        self._ws = Workspace()
        self.smoother: TemporalSmoother | None = None
        self.set_temporal(temporal)
        self.governor: Governor | None = None
        self._held_prob: np.ndarray | None = None  # with a governor: the probability the model gave last
        self._held: tuple[np.ndarray, Blend | None] | None = None  # and the last matte and background, prepared
        self.last_step = MODEL  # what the governor had this frame do (always MODEL without one)
        self.set_governor(governor)

    @property
    def last_alpha(self) -> np.ndarray | None:
        """The alpha the last frame was composited with, H x W float32 in [0, 1] (a new array), or None."""
        return None if self.last_alpha8 is None else self.last_alpha8.astype(np.float32) / np.float32(255)

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

    def set_governor(self, governor: bool | GovernorConfig | Governor) -> None:
        """Turn the compute governor on (True: default settings, a config, or a :class:`Governor`) or off (False).

        With a budget it may swap the segmenter for a cheaper one (the INT8 twin, one thread): see
        :meth:`Governor.choose`.
        """
        if governor is False or governor is None:
            self.governor = None
        elif governor is True or isinstance(governor, GovernorConfig):
            self.governor = Governor(governor if isinstance(governor, GovernorConfig) else None)
        elif isinstance(governor, Governor):
            self.governor = governor
        else:
            raise ValueError(f"governor must be True, False, a GovernorConfig or a Governor, got {governor!r}")
        if self.governor is not None:
            self.segmenter = self.governor.choose(self.segmenter)
        self._held_prob, self._held = None, None

    def reset(self) -> None:
        """Start a new stream: forget the temporal smoothing state and what the governor holds (if any)."""
        if self.smoother is not None:
            self.smoother.reset()
        if self.governor is not None:
            self.governor.reset()
        self._held_prob, self._held = None, None

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
        self._held = None  # the next frame renders its background afresh

    def mask(self, image: np.ndarray) -> np.ndarray:
        """The alpha :meth:`process` composites with: refined, full resolution, inverted if ``invert``.

        1 = left as is (the kept classes, unless inverted), 0 = effect applied; H x W float32.
        Not temporally smoothed: the image is treated on its own and the stream state is untouched.
        """
        rgb = as_rgb(image)
        return self._matte(self.segmenter.predict_lowres(rgb), rgb)

    def _matte(self, prob: np.ndarray, rgb: np.ndarray, ws: Workspace | None = None,
               guide_low: np.ndarray | None = None, dtype: type = np.float32) -> np.ndarray:
        alpha = refine(prob, rgb, self.refine_config, ws, guide_low, dtype)
        if not self.invert:
            return alpha
        return cv2.bitwise_not(alpha, dst=alpha) if dtype is np.uint8 else np.subtract(1.0, alpha, out=alpha)

    def process(self, image: np.ndarray) -> np.ndarray:
        """Apply the effect to one RGB uint8 frame (any size); returns an RGB uint8 frame of the same size.

        With temporal smoothing on, this frame continues the stream of the previous calls (the
        ``segment`` timing then includes the smoothing; the grey guide it shares with refinement
        counts as ``refine``). In the ``"mask"`` :attr:`view` the frame is still composited (so the
        timings stay comparable) and the alpha is returned as grey RGB: white where the frame is left as it is.
        """
        t0 = time.perf_counter()
        rgb = as_rgb(image)
        step = self._plan(rgb)
        if step == REUSE:
            return self._reuse(rgb, t0)
        prob = raw = self._held_prob if step == HOLD else self.segmenter.predict_lowres(rgb)
        guide, guide_low, t_guide = rgb, None, 0.0
        if self.smoother is not None and step == MODEL:
            # One grey frame and one low-resolution guide per frame, for both the smoother and refine.
            tg = time.perf_counter()
            guide = grey_frame(rgb, self._ws)
            guide_low = guide_lowres(guide, (prob.shape[1], prob.shape[0]), self._ws)
            t_guide = time.perf_counter() - tg
            prob = self.smoother.smooth(prob, guide_low, rgb.shape)
        if step == MODEL and self.smoother is not None and self.governor is not None:
            # The frames the model skipped, as if it had seen this one on each: the smoothing catches up in
            # frames, not model runs (a still scene settles as fast as without the governor).
            for _ in range(min(self.governor.skipped, CATCH_UP)):
                prob = self.smoother.smooth(raw, guide_low, rgb.shape)
        t1 = time.perf_counter()
        alpha = self._matte(prob, guide, self._ws, guide_low, np.uint8)
        t2 = time.perf_counter()
        background = self.effect.render(rgb, alpha, self._ws)
        t3 = time.perf_counter()
        blend = Blend(background, alpha, rgb.shape, self._ws)
        out = blend.apply(rgb, self._ws)
        t4 = time.perf_counter()
        self.last_alpha8 = alpha
        self.last_timings = {"segment": (t1 - t0 - t_guide) * 1e3, "refine": (t2 - t1 + t_guide) * 1e3,
                             "effect": (t3 - t2) * 1e3, "compose": (t4 - t3) * 1e3, "total": (t4 - t0) * 1e3}
        if self.governor is not None:
            self._held_prob = prob.copy() if step == MODEL else prob
            self._held = (alpha, None if background is rgb else blend)  # the frame itself is no background to keep
            self.governor.observe(t4 - t0)
        if self._view == "mask":
            return cv2.cvtColor(alpha, cv2.COLOR_GRAY2RGB)
        return out

    def _plan(self, rgb: np.ndarray) -> str:
        """The governor's step for this frame (MODEL without a governor, or while nothing is held to reuse)."""
        self.last_step = MODEL
        if self.governor is not None:
            held = self._held is not None and self._held[0].shape == rgb.shape[:2]
            step = self.governor.plan(rgb, can_reuse=held)
            self.last_step = step if step != HOLD or self._held_prob is not None else MODEL
        return self.last_step

    def _reuse(self, rgb: np.ndarray, t0: float) -> np.ndarray:
        """The last matte and background blended with this frame: the governor found nothing moved."""
        alpha, blend = self._held
        t3 = time.perf_counter()
        out = composite(rgb, rgb, alpha, self._ws) if blend is None else blend.apply(rgb, self._ws)
        t4 = time.perf_counter()
        self.last_alpha8 = alpha
        self.last_timings = {"segment": 0.0, "refine": 0.0, "effect": 0.0, "compose": (t4 - t3) * 1e3,
                             "total": (t4 - t0) * 1e3}
        self.governor.observe(t4 - t0)
        if self._view == "mask":
            return cv2.cvtColor(alpha, cv2.COLOR_GRAY2RGB)
        return out

    __call__ = process
