"""Per-stream temporal smoothing of the model's low-resolution foreground probability.

A segmentation model looks at every frame afresh, so on a still scene the mask edge flickers
from frame to frame. :class:`TemporalSmoother` runs an exponential moving average over the
low-resolution probabilities (cheap: 192x192 for the default model), before refinement:

* **Asymmetric**: a rising probability is taken with a large weight (``rise``), a falling one with
  a small weight (``fall``), so a person who steps in appears at once, while a part of a person
  the model misses for a frame or two (a hand, hair) does not blink out.
* **Motion-aware**: a grey thumbnail of each frame, at the probability's resolution (the same
  low-resolution guide the refinement uses, so the pipeline computes it once), is compared
  with the previous one. Where a pixel changed by ``local_motion`` or more, the new probability is
  taken as is (no ghost trail behind a moving person); smaller changes blend in proportionally.
  When the mean change exceeds ``motion_threshold`` (a scene cut, a fast pan, a camera switch) or
  the frame size changes, the state is reset.

Defaults and why (tuned for 25-30 frames per second):

* ``rise=0.7``: a person appearing from nothing reaches probability 0.7 on the first frame (above
  the 0.5 threshold, so visible at once) and 0.91 on the second.
* ``fall=0.3``: a probability that drops from 1 to 0 stays above 0.5 for two frames (about
  70 ms) and has faded by the fourth. On a still scene the frame-to-frame jitter of the
  probability drops to about a third (an EMA with weight a passes a / sqrt(2 - a) of white
  noise's frame-to-frame change: 0.61 for 0.7, 0.23 for 0.3).
* ``local_motion=0.1``: a 10 % change of a thumbnail pixel's brightness (about 25 grey levels,
  averaged over a block of pixels, so well above sensor and compression noise) means the content
  there moved.
* ``motion_threshold=0.2``: a mean change of 20 % over the whole frame happens at cuts and very
  fast pans, not for a person moving in front of a still camera.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .refine import grey_frame, guide_lowres
from .workspace import Workspace


@dataclass(frozen=True)
class TemporalConfig:
    """Weights and motion thresholds of :class:`TemporalSmoother` (see the module docstring for the defaults).

    rise/fall: weight of the new probability where it is above/below the smoothed one (1 = no
    smoothing). local_motion: thumbnail brightness change (0..1) from which a pixel takes the new
    probability as is (0 = off). motion_threshold: mean thumbnail change (0..1) that resets the state.
    """

    rise: float = 0.7
    fall: float = 0.3
    local_motion: float = 0.1
    motion_threshold: float = 0.2

    def __post_init__(self) -> None:
        for name in ("rise", "fall", "local_motion", "motion_threshold"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"temporal {name} must be a finite number, got {v!r}")
        if not (0.0 < self.rise <= 1.0 and 0.0 < self.fall <= 1.0):
            raise ValueError(f"temporal rise and fall must be in (0, 1], got {self.rise} and {self.fall}")
        if self.local_motion < 0 or self.motion_threshold <= 0:
            raise ValueError("temporal local_motion must be >= 0 and motion_threshold > 0")


class TemporalSmoother:
    """Smooths one stream's low-resolution probabilities across frames; :meth:`reset` starts a new stream.

    The per-frame work runs in buffers sized on the first frame (no allocations while the sizes hold).
    """

    def __init__(self, config: TemporalConfig | None = None) -> None:
        self.config = config or TemporalConfig()
        self.resets = 0  # times the state was dropped because of large motion or a size change
        self._ws = Workspace()
        self.reset()

    def reset(self) -> None:
        """Forget the previous frames (a new stream, a seek): the next frame is taken as is."""
        self._state: np.ndarray | None = None  # smoothed probability of the last frame (own buffer)
        self._thumb: np.ndarray | None = None  # that frame's grey thumbnail (own buffer)
        self._frame_shape: tuple[int, ...] | None = None

    def __call__(self, prob_lowres: np.ndarray, rgb: np.ndarray) -> np.ndarray:
        """The smoothed probability (h x w float32, a new array) for this frame's ``prob_lowres`` and RGB frame."""
        prob = np.asarray(prob_lowres, np.float32)
        if prob.ndim != 2:
            raise ValueError(f"expected an h x w probability map, got shape {prob.shape}")
        h, w = prob.shape
        thumb = guide_lowres(grey_frame(rgb, self._ws, "temporal.gray"), (w, h), self._ws, "temporal.glow")
        return self.smooth(prob, thumb, rgb.shape).copy()

    def smooth(self, prob_lowres: np.ndarray, thumb: np.ndarray, frame_shape: tuple[int, ...]) -> np.ndarray:
        """The smoothed probability for this frame, given its grey thumbnail at the probability's size.

        ``thumb`` is :func:`~segblur.runtime.refine.guide_lowres` of the frame (what the pipeline
        already computes for refinement); ``frame_shape`` is the full frame's shape (a change resets).
        Returns a read-only view of the smoother's state, valid until the next call (then updated in
        place): copy it to keep it. Neither input is written to or kept.
        """
        prob = np.asarray(prob_lowres, np.float32)
        if prob.ndim != 2:
            raise ValueError(f"expected an h x w probability map, got shape {prob.shape}")
        if thumb.shape != prob.shape:
            raise ValueError(f"thumbnail has shape {thumb.shape}, expected the probability's {prob.shape}")
        cfg, ws, shape = self.config, self._ws, prob.shape
        fresh = self._state is None or self._state.shape != shape or self._frame_shape != tuple(frame_shape)
        if fresh and self._state is not None:
            self.resets += 1
        state, prev = ws.get("temporal.state", shape), ws.get("temporal.thumb", shape)
        if not fresh:
            change = cv2.absdiff(thumb, prev, dst=ws.get("temporal.change", shape))
            if cv2.mean(change)[0] > cfg.motion_threshold:
                self.resets += 1
                fresh = True
        if fresh:
            np.copyto(state, prob)
        else:
            weight = ws.get("temporal.weight", shape)
            rising = np.greater(prob, state, out=ws.get("temporal.rising", shape, np.bool_))
            weight.fill(cfg.fall)
            np.copyto(weight, np.float32(cfg.rise), where=rising)
            if cfg.local_motion > 0:
                # 3x3 mean: one noisy thumbnail pixel is not motion.
                moved = cv2.blur(change, (3, 3), dst=ws.get("temporal.moved", shape), borderType=cv2.BORDER_REPLICATE)
                moved *= 1 / cfg.local_motion
                np.minimum(moved, 1.0, out=moved)
                np.maximum(weight, moved, out=weight)
            step = np.subtract(prob, state, out=ws.get("temporal.step", shape))
            step *= weight
            state += step
        np.copyto(prev, thumb)
        self._state, self._thumb, self._frame_shape = state, prev, tuple(frame_shape)
        view = state.view()
        view.flags.writeable = False
        return view
