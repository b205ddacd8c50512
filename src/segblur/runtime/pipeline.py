"""One frame, one way: segment -> (subject focus, temporal smoothing) -> refine -> effect -> composite.

Video and camera loops feed frames to a :class:`Pipeline`; they never segment or blur themselves. A live stream
calls :meth:`Pipeline.process` (causal); a file may call :meth:`Pipeline.push` and :meth:`Pipeline.drain`, which
answer a few frames later with the two-way smoothing of :mod:`.twoway`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from .compose import Blend, composite
from .effects import Color, Effect, ReplaceImage, SolidColor, make_effect
from .governor import HOLD, MODEL, REUSE, Governor, GovernorConfig
from .refine import RefineConfig, refine
from .segmenter import Segmenter, as_rgb
from .stream import Segmented, StreamSegmenter
from .subject import SubjectConfig
from .temporal import TemporalConfig, TemporalSmoother
from .workspace import Workspace

# What Pipeline.process returns: the composited frame, the alpha as grey RGB (the live preview's m key switches),
# or for export the frame with the alpha as a 4th channel, the 8-bit alpha, or the alpha cut at 0.5 (0/255).
VIEWS = ("effect", "mask", "rgba", "alpha", "binary")
EXPORT_VIEWS = ("rgba", "alpha", "binary")  # no effect is drawn
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
    call :meth:`reset` when a new stream starts. Off by default (independent images). ``subject``
    (``"all"``, ``"main"`` or a :class:`~segblur.runtime.subject.SubjectConfig`) keeps all people or the main
    one, and can follow them with a crop (:mod:`.subject`).
    :attr:`view` chooses what :meth:`process` returns: the composited frame, the mask, or an export view.
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
                 subject: str | SubjectConfig | None = None,
                 governor: bool | GovernorConfig | Governor = False) -> None:
        self.stream: StreamSegmenter | None = None  # the segment stage of a stream, when focus or smoothing is on
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
        self._temporal: TemporalConfig | None = None
        self._subject = SubjectConfig()
        self.set_subject(subject)
        self.set_temporal(temporal)
        self.governor: Governor | None = None
        self._held_prob: np.ndarray | None = None  # with a governor: the map the model gave last (smoothed)
        self._held_box: tuple[int, int, int, int] | None = None  # and the part of the frame it covers
        self._held: tuple[np.ndarray, Blend | None] | None = None  # and the last matte and background, prepared
        self.last_step = MODEL  # what the governor had this frame do (always MODEL without one)
        self.set_governor(governor)

    @property
    def segmenter(self) -> Segmenter:
        """The segmenter the frames go through (the governor or a video's frames in flight may swap it)."""
        return self._segmenter

    @segmenter.setter
    def segmenter(self, segmenter: Segmenter) -> None:
        self._segmenter = segmenter
        if self.stream is not None:
            self.stream.segmenter = segmenter

    @property
    def last_alpha(self) -> np.ndarray | None:
        """The alpha the last frame was composited with, H x W float32 in [0, 1] (a new array), or None."""
        return None if self.last_alpha8 is None else self.last_alpha8.astype(np.float32) / np.float32(255)

    @property
    def temporal(self) -> TemporalConfig | None:
        """The temporal smoothing settings in use, or None when frames are independent."""
        return self._temporal

    @property
    def smoother(self) -> TemporalSmoother | None:
        """The causal temporal smoother of the stream (None when smoothing is off)."""
        return self.stream.smoother if self.stream is not None else None

    @property
    def lookahead(self) -> int:
        """Frames :meth:`push` holds back for the two-way smoothing (0 when smoothing is off)."""
        return self._temporal.lookahead if self._temporal is not None else 0

    @property
    def subject(self) -> SubjectConfig:
        """Who is kept and whether the model follows them with a crop."""
        return self._subject

    def next_box(self, frame_shape: tuple[int, ...]) -> tuple[int, int, int, int] | None:
        """The part of the next frame of this shape the model will look at, as planned so far (following the
        subject: a crop; None: the whole frame). A video's frames in flight start the model on it ahead of time."""
        return self.stream.next_box(frame_shape) if self.stream is not None else None

    def set_temporal(self, config: bool | TemporalConfig) -> None:
        """Turn temporal smoothing on (True: default settings, or a config) or off (False); starts afresh."""
        if isinstance(config, TemporalConfig):
            self._temporal = config
        elif config is True or config is False:
            self._temporal = TemporalConfig() if config else None
        else:
            raise ValueError(f"temporal must be True, False or a TemporalConfig, got {config!r}")
        self._restart()

    def set_subject(self, config: str | SubjectConfig | None) -> None:
        """Keep ``"all"`` people (None) or the ``"main"`` one, or a :class:`SubjectConfig`; starts afresh."""
        self._subject = config if isinstance(config, SubjectConfig) else SubjectConfig(config or "all")
        self._restart()

    def _restart(self) -> None:
        if self._temporal is None and not self._subject.active:
            self.stream = None
        else:
            self.stream = StreamSegmenter(self.segmenter, self._temporal, self._subject, self._ws)

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
        """Start a new stream: forget the temporal smoothing state, the subject, frames held by :meth:`push` and
        what the governor holds (if any)."""
        if self.stream is not None:
            self.stream.reset()
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
        Not temporally smoothed: the image is treated on its own and the stream state is untouched
        (subject focus applies: the main person only, and with ``follow`` a second look at the crop).
        """
        rgb = as_rgb(image)
        seg = self.stream.still(rgb) if self.stream is not None else \
            Segmented(rgb, None, self.segmenter.predict_lowres(rgb))
        return self._matte(seg)

    def _matte(self, seg: Segmented, ws: Workspace | None = None, dtype: type = np.float32) -> np.ndarray:
        alpha = refine(seg.prob, seg.src if seg.guide is None else seg.guide, self.refine_config, ws, seg.guide_low,
                       dtype)
        if seg.box is not None:  # the crop's alpha into a frame of zeros
            x0, y0, x1, y1 = seg.box
            full = ws.get("pipeline.alpha", seg.rgb.shape[:2], dtype) if ws is not None else \
                np.empty(seg.rgb.shape[:2], dtype)
            full.fill(0)
            full[y0:y1, x0:x1] = alpha
            alpha = full
        if not self.invert:
            return alpha
        return cv2.bitwise_not(alpha, dst=alpha) if dtype is np.uint8 else np.subtract(1.0, alpha, out=alpha)

    def process(self, image: np.ndarray, still: bool = False) -> np.ndarray:
        """Apply the effect to one RGB uint8 frame (any size); returns an RGB uint8 frame of the same size.

        ``still``: a photo on its own, as :meth:`mask` treats it (the stream is neither used nor changed).
        With temporal smoothing on, this frame continues the stream of the previous calls (the
        ``segment`` timing then includes the smoothing; the grey guide it shares with refinement
        counts as ``refine``). In the ``"mask"`` :attr:`view` the frame is still composited (so the
        timings stay comparable) and the alpha is returned as grey RGB: white where the frame is left as it is.
        The export views return H x W x 4 (``"rgba"``) or H x W (``"alpha"``, ``"binary"``) uint8 and draw no effect.
        """
        t0 = time.perf_counter()
        rgb = as_rgb(image)
        step = MODEL if still else self._plan(rgb)
        if step == REUSE:
            return self._reuse(rgb, t0)
        if step == HOLD:  # the governor skips the model: the last map (and its crop) on this frame
            seg = Segmented(rgb, self._held_box, self._held_prob)
        elif self.stream is None:
            seg = Segmented(rgb, None, self.segmenter.predict_lowres(rgb))
        elif still:
            seg = self.stream.still(rgb)
        else:
            # The frames the model skipped, as if it had seen this one on each: the smoothing catches up in
            # frames, not model runs (a still scene settles as fast as without the governor).
            seg = self.stream.segment(rgb, min(self.governor.skipped, CATCH_UP) if self.governor is not None else 0)
        out = self._render(seg, t0)
        if self.governor is not None and not still:
            if step == MODEL:
                self._held_prob, self._held_box = seg.prob.copy(), seg.box
            self.governor.observe(time.perf_counter() - t0)
        return out

    def push(self, image: np.ndarray) -> np.ndarray | None:
        """Feed the next frame of a file: returns the frame ``temporal.lookahead`` pushes earlier, processed with
        the two-way smoothing (None while the first frames are held), as :meth:`process` would return it.

        Call :meth:`drain` at the end for the frames still held. Without temporal smoothing (or with a lookahead
        of 0) this is :meth:`process`. The frame is kept until it is answered: do not write to it meanwhile.
        """
        if not self.lookahead:
            return self.process(image)
        t0 = time.perf_counter()
        seg = self.stream.push(as_rgb(image))
        return None if seg is None else self._render(seg, t0)

    def drain(self) -> Iterator[np.ndarray]:
        """The frames :meth:`push` still holds at the end of a file, processed, oldest first."""
        if self.stream is not None:
            for seg in self.stream.drain():
                yield self._render(seg, time.perf_counter())

    def _render(self, seg: Segmented, t0: float) -> np.ndarray:
        """Refine, apply the effect and composite one segmented frame; sets the timings and :attr:`last_alpha8`."""
        rgb = seg.rgb
        t1 = time.perf_counter()
        alpha = self._matte(seg, self._ws, np.uint8)
        t2 = time.perf_counter()
        if self._view in EXPORT_VIEWS:
            t3 = t2
            if self._view == "rgba":
                out = cv2.merge((rgb[..., 0], rgb[..., 1], rgb[..., 2], alpha))
            else:
                out = alpha.copy() if self._view == "alpha" else cv2.compare(alpha, 128, cv2.CMP_GE)  # >= 0.5
            self._held = None
        else:
            background = self.effect.render(rgb, alpha, self._ws)
            t3 = time.perf_counter()
            keep = self.governor is not None  # only the governor's reused frames blend the same background again
            blend = Blend(background, alpha, rgb.shape, self._ws, once=not keep)
            out = blend.apply(rgb, self._ws)
            # the frame itself is no background to keep
            self._held = (alpha, None if background is rgb else blend) if keep else None
        t4 = time.perf_counter()
        self.last_alpha8 = alpha
        t_guide = seg.guide_seconds
        self.last_timings = {"segment": (t1 - t0 - t_guide) * 1e3, "refine": (t2 - t1 + t_guide) * 1e3,
                             "effect": (t3 - t2) * 1e3, "compose": (t4 - t3) * 1e3, "total": (t4 - t0) * 1e3}
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
