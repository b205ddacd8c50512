"""Two-way temporal smoothing for files: a fixed lag of ``lookahead`` frames, so later frames help earlier ones.

A live camera can only average the past, so its mask always trails a moving subject a little. A file has no
latency limit: :class:`TwoWaySmoother` holds ``lookahead`` frames, runs the causal smoother forward as frames arrive
(:class:`~.temporal.TemporalSmoother`) and, for the oldest frame held, the same motion-compensated asymmetric
average *backward* from the newest frame (each later map warped onto the earlier frame by the optical flow
between them). The two estimates are combined as a two-filter smoother does (Fraser & Potter, 1969): both contain
the frame's own map, so it is counted once,

    smoothed = (forward + backward - w * prob) / (2 - w),   w = the mean of the weights the two passes gave prob,

which for equal weights is exactly the two-sided exponential kernel a (1 - a)^|k| / (2 - a) around the frame:
no lag, and twice the frames to average out the model's noise. The backward pass never crosses a scene cut or a
size change.

``lookahead`` 8 by default: with the fall weight 0.3 a frame 8 frames away would get under 6 % (0.7^8) of the
backward estimate; on davis-dance-twirl 4, 8 and 16 frames score the same (BENCHMARKS.md). Cost per frame: one
more optical flow (the backward one) and ``lookahead`` warps and blends at the model's resolution.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .motion import Box, Motion, Warp, full_box
from .temporal import TemporalConfig, TemporalSmoother, blend_step
from .workspace import Workspace


@dataclass
class _Held:
    prob: np.ndarray  # the model's map (after subject selection)
    forward: np.ndarray  # the causal smoother's estimate
    weight: np.ndarray | None  # the weight the causal smoother gave ``prob`` (None: all of it, a fresh start)
    thumb: np.ndarray
    box: Box
    link: Warp | None = None  # the next frame's map -> this frame's grid; None at the end or before a cut


class TwoWaySmoother:
    """Forward-backward smoothing with a fixed lag: :meth:`push` a frame's map, get an earlier frame's map back.

    ``push`` returns the smoothed map of the frame ``config.lookahead`` pushes earlier (None while the window
    fills); :meth:`drain` gives the ones still held at the end of the stream. With ``lookahead=0`` each push returns
    the causal smoother's map at once. :attr:`forward` is the causal smoother (its resets, its last warp).
    """

    def __init__(self, config: TemporalConfig | None = None) -> None:
        self.config = config or TemporalConfig()
        self.forward = TemporalSmoother(self.config)
        self._back = Motion(self.config.flow, "lookahead")
        self._ws = Workspace()
        self._held: deque[_Held] = deque()

    def reset(self) -> None:
        """Forget the stream, including the frames held (call :meth:`drain` first to keep them)."""
        self.forward.reset()
        self._held.clear()

    def __len__(self) -> int:
        return len(self._held)

    def _entry(self, prob: np.ndarray, thumb: np.ndarray, frame_shape: tuple[int, ...], box: Box) -> _Held:
        forward = self.forward.smooth(prob, thumb, frame_shape, box).copy()
        weight = None if self.forward.last_weight is None else self.forward.last_weight.copy()
        return _Held(np.array(prob, np.float32), forward, weight, thumb.copy(), box)

    def push(self, prob: np.ndarray, thumb: np.ndarray, frame_shape: tuple[int, ...],
             box: Box | None = None) -> np.ndarray | None:
        """Add this frame's map (and its thumbnail, see :meth:`TemporalSmoother.smooth`); the map of the frame
        ``lookahead`` frames back, smoothed both ways (a new array), or None while the window fills."""
        box = full_box(frame_shape) if box is None else tuple(int(v) for v in box)
        entry = self._entry(prob, thumb, frame_shape, box)
        if self.config.lookahead == 0:
            return entry.forward
        if self._held and not self.forward.fresh:
            last = self._held[-1]  # how the new frame's map lands on the previous frame's grid
            w = self._back.estimate(last.thumb, last.box, entry.thumb, entry.box)
            last.link = Warp(w.map_x.copy(), w.map_y.copy(), w.residual.copy(), w.mean)
        self._held.append(entry)
        return self._emit() if len(self._held) > self.config.lookahead else None

    def redo(self, prob: np.ndarray, thumb: np.ndarray, frame_shape: tuple[int, ...], box: Box | None = None) -> None:
        """Replace the newest frame's map, pushed after a cut (the map was made from before the cut: a crop from
        the last scene): it starts the stream afresh, as a cut does."""
        box = full_box(frame_shape) if box is None else tuple(int(v) for v in box)
        self.forward.reset()
        entry = self._entry(prob, thumb, frame_shape, box)
        if self._held:
            self._held[-1] = entry

    def drain(self) -> Iterator[np.ndarray]:
        """The maps of the frames still held, oldest first (the end of the stream)."""
        while self._held:
            yield self._emit()

    def _emit(self) -> np.ndarray:
        """The oldest frame's map: its forward estimate and the backward pass from the newest frame, combined."""
        held = list(self._held)
        back, back_weight = held[-1].prob, None
        for k, e in enumerate(reversed(held[:-1])):
            if e.link is None:  # a cut lies between: start afresh
                back, back_weight = e.prob, None
                continue
            # onto e's grid (maps may differ in size: a kept-aspect model looking at crops of other shapes)
            back = e.link.apply(back, self._ws.get(("la.a", "la.b")[k % 2], e.prob.shape))
            back_weight = blend_step(back, e.prob, e.link, self.config, self._ws, "la")
        oldest = self._held.popleft()
        # w = mean of the two weights; a pass that started afresh on this frame gave it all the weight (1).
        w = np.add(1.0 if oldest.weight is None else oldest.weight, 1.0 if back_weight is None else back_weight,
                   dtype=np.float32)
        w *= 0.5
        out = np.add(oldest.forward, back)
        out -= w * oldest.prob
        out /= 2.0 - w
        return out
