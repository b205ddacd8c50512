"""Per-stream temporal smoothing of the model's low-resolution foreground probability.

A segmentation model looks at every frame afresh, so the mask edge flickers from frame to frame.
:class:`TemporalSmoother` runs a moving average over the low-resolution probabilities (cheap: 192x192 for the
default model), before refinement:

* **Motion-compensated**: the previous smoothed map is first warped by the motion between the two frames
  (:mod:`.motion`: DIS optical flow between the grey thumbnails the refinement uses anyway), so the average
  follows a moving arm instead of trailing it, and a crop that moved with the subject (:mod:`.subject`) is
  followed too. Where the warped previous thumbnail still differs from this one by ``local_motion`` or more
  (an occlusion, a flow error) the new probability is taken as is; smaller differences blend in proportionally.
* **Asymmetric**: a rising probability is taken with a large weight (``rise``), a falling one with a small
  weight (``fall``), so a person who steps in appears at once, while a part of a person the model misses for a
  frame or two (a hand, hair) does not blink out.
* **Resets** when the mean remaining difference exceeds ``motion_threshold`` (a scene cut, a camera switch) or
  the frame size changes.

That is the causal filter the camera uses. A file can wait for later frames: :class:`~.twoway.TwoWaySmoother` adds
a backward pass over ``lookahead`` frames ahead and averages the two (``Pipeline.push``).

Defaults and why (tuned for 25-30 frames per second; the figures are in BENCHMARKS.md):

* ``rise=0.7``: a person appearing from nothing reaches probability 0.7 on the first frame (above
  the 0.5 threshold, so visible at once) and 0.91 on the second.
* ``fall=0.3``: a probability that drops from 1 to 0 stays above 0.5 for two frames (about
  70 ms) and has faded by the fourth. On a still scene the frame-to-frame jitter of the
  probability drops to about a third (an EMA with weight a passes a / sqrt(2 - a) of white
  noise's frame-to-frame change: 0.61 for 0.7, 0.23 for 0.3).
* ``local_motion=0.3``: a 30 % difference of a thumbnail pixel's brightness after motion compensation (about
  75 grey levels, averaged over a block of pixels) means the motion there was not followed (an occlusion, a
  flow error). It was 0.1 before the flow, when any motion had to reset a pixel; with the flow what is left
  over is mostly occlusion, and on davis-dance-twirl 0.3 lowered the temporal error against the ground truth
  from 28.1 to 26.3 at the same IoU (0, 0.2, 0.3 and 0.5 all within 0.8; even without flow 0.3 did better than
  0.1: 32.1 against 35.6).
* ``motion_threshold=0.2``: a mean difference of 20 % over the whole frame happens at cuts, not for a person
  moving in front of a camera (the flow follows pans too).
* ``flow=True``: on davis-dance-twirl the motion-compensated average lowers the temporal error against the
  ground truth and raises the per-frame IoU (BENCHMARKS.md); it costs about 1.2 ms of CPU per frame.
* ``lookahead=8`` (:data:`~segblur.names.DEFAULT_LOOKAHEAD`): see :mod:`.twoway`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..names import DEFAULT_LOOKAHEAD
from .motion import Box, Motion, Warp, full_box
from .refine import grey_frame, guide_lowres
from .workspace import Workspace


@dataclass(frozen=True)
class TemporalConfig:
    """Weights and motion settings of :class:`TemporalSmoother` (see the module docstring for the defaults).

    rise/fall: weight of the new probability where it is above/below the smoothed one (1 = no
    smoothing). local_motion: thumbnail difference (0..1) after motion compensation from which a pixel takes the
    new probability as is (0 = off). motion_threshold: mean difference (0..1) that resets the state. flow: warp
    the previous state by the optical flow (False: only a moved crop is followed). lookahead: frames a file may
    look ahead for the two-way filter (``Pipeline.push``; 0 = causal only); the camera path is always causal.
    """

    rise: float = 0.7
    fall: float = 0.3
    local_motion: float = 0.3
    motion_threshold: float = 0.2
    flow: bool = True
    lookahead: int = DEFAULT_LOOKAHEAD

    def __post_init__(self) -> None:
        for name in ("rise", "fall", "local_motion", "motion_threshold"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"temporal {name} must be a finite number, got {v!r}")
        if not (0.0 < self.rise <= 1.0 and 0.0 < self.fall <= 1.0):
            raise ValueError(f"temporal rise and fall must be in (0, 1], got {self.rise} and {self.fall}")
        if self.local_motion < 0 or self.motion_threshold <= 0:
            raise ValueError("temporal local_motion must be >= 0 and motion_threshold > 0")
        if isinstance(self.lookahead, bool) or not isinstance(self.lookahead, int) or not 0 <= self.lookahead <= 120:
            raise ValueError(f"temporal lookahead must be a whole number of frames in 0..120, got {self.lookahead!r}")


def blend_step(state: np.ndarray, prob: np.ndarray, warp: Warp | None, cfg: TemporalConfig, ws: Workspace,
               prefix: str) -> np.ndarray:
    """One step of the asymmetric average: ``prob`` blended into ``state`` (already warped onto this frame's grid,
    :data:`~.motion.OUTSIDE` where unknown), in place; ``warp.residual`` raises the weight where motion was not
    followed. Returns the per-pixel weight ``prob`` got (a ``ws`` buffer). Shared by the forward smoother and the
    backward pass of :class:`~.twoway.TwoWaySmoother`."""
    shape = prob.shape
    weight = ws.get(prefix + ".weight", shape)
    rising = np.greater(prob, state, out=ws.get(prefix + ".rising", shape, np.bool_))
    weight.fill(cfg.fall)
    np.copyto(weight, np.float32(cfg.rise), where=rising)
    if warp is not None and cfg.local_motion > 0:
        moved = np.multiply(warp.residual, 1 / cfg.local_motion, out=ws.get(prefix + ".moved", shape))
        np.minimum(moved, 1.0, out=moved)
        np.maximum(weight, moved, out=weight)
    np.copyto(weight, np.float32(1.0), where=state < 0)  # no earlier data here (outside the previous box)
    step = np.subtract(prob, state, out=ws.get(prefix + ".step", shape))
    step *= weight
    state += step
    return weight


class TemporalSmoother:
    """Smooths one stream's low-resolution probabilities across frames (causal); :meth:`reset` starts a new stream.

    The per-frame work runs in buffers sized on the first frame (no allocations while the sizes hold).
    After each :meth:`smooth`, :attr:`last_warp` is the warp from the previous frame and :attr:`last_weight` the
    per-pixel weight the new map got (both None when the state started afresh on this frame: :attr:`fresh`).
    """

    def __init__(self, config: TemporalConfig | None = None) -> None:
        self.config = config or TemporalConfig()
        self.resets = 0  # times the state was dropped because of large motion or a size change
        self._ws = Workspace()
        self.motion = Motion(self.config.flow, "temporal")
        self.last_warp: Warp | None = None
        self.last_weight: np.ndarray | None = None
        self.fresh = True
        self.reset()

    def reset(self) -> None:
        """Forget the previous frames (a new stream, a seek): the next frame is taken as is."""
        self._state: np.ndarray | None = None  # smoothed probability of the last frame (own buffer)
        self._thumb: np.ndarray | None = None  # that frame's grey thumbnail (own buffer)
        self._frame_shape: tuple[int, ...] | None = None
        self._box: Box | None = None

    def __call__(self, prob_lowres: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """The smoothed probability (h x w float32, a new array) for this frame's ``prob_lowres`` and RGB frame."""
        prob = np.asarray(prob_lowres, np.float32)
        if prob.ndim != 2:
            raise ValueError(f"expected an h x w probability map, got shape {prob.shape}")
        h, w = prob.shape
        thumb = guide_lowres(grey_frame(rgb, self._ws, "temporal.gray"), (w, h), self._ws, "temporal.glow")
        return self.smooth(prob, thumb, rgb.shape).copy()

    def smooth(self, prob_lowres: np.ndarray, thumb: np.ndarray, frame_shape: tuple[int, ...],
               box: Box | None = None) -> np.ndarray:
        """The smoothed probability for this frame, given its grey thumbnail at the probability's size.

        ``thumb`` is :func:`~segblur.runtime.refine.guide_lowres` of the frame (what the pipeline
        already computes for refinement); ``frame_shape`` is the full frame's shape (a change resets);
        ``box`` the part of the frame the maps cover (None: all of it). Returns a read-only view of the
        smoother's state, valid until the next call (then updated in place): copy it to keep it. Neither input
        is written to or kept.
        """
        prob = np.asarray(prob_lowres, np.float32)
        if prob.ndim != 2:
            raise ValueError(f"expected an h x w probability map, got shape {prob.shape}")
        if thumb.shape != prob.shape:
            raise ValueError(f"thumbnail has shape {thumb.shape}, expected the probability's {prob.shape}")
        cfg, ws, shape = self.config, self._ws, prob.shape
        box = full_box(frame_shape) if box is None else tuple(int(v) for v in box)
        # The map's own size may change (a model that keeps the aspect ratio, looking at a crop of another shape):
        # the warp resamples the last state onto the new grid. Only a new frame size starts afresh.
        old_state, old_thumb = self._state, self._thumb
        fresh = old_state is None or self._frame_shape != tuple(frame_shape)
        if fresh and old_state is not None:
            self.resets += 1
        warp = weight = None
        if not fresh:
            warp = self.motion.estimate(thumb, box, old_thumb, self._box)
            if warp.mean > cfg.motion_threshold:
                self.resets += 1
                fresh, warp = True, None
        state = ws.get("temporal.state", shape)  # the old state itself when the size is the same
        if fresh:
            np.copyto(state, prob)
        else:
            warped = warp.apply(old_state, ws.get("temporal.warped", shape))
            weight = blend_step(warped, prob, warp, cfg, ws, "temporal")
            np.copyto(state, warped)
        prev = ws.get("temporal.thumb", shape)
        np.copyto(prev, thumb)
        self._state, self._thumb, self._frame_shape, self._box = state, prev, tuple(frame_shape), box
        self.last_warp, self.last_weight, self.fresh = warp, weight, fresh
        view = state.view()
        view.flags.writeable = False
        return view
