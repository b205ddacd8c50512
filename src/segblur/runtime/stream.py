"""The segment stage of a stream: crop around the subject, run the model, keep the chosen people, smooth in time.

:class:`StreamSegmenter` is what :class:`~.pipeline.Pipeline` calls before refinement when subject focus
(:mod:`.subject`) or temporal smoothing (:mod:`.temporal`, :mod:`.twoway`) is on. It hands back a
:class:`Segmented` frame: the low-resolution probability over a box of the frame, ready to refine. Three ways in:

* :meth:`~StreamSegmenter.segment`: the next frame of a live stream (causal: the camera);
* :meth:`~StreamSegmenter.push` / :meth:`~StreamSegmenter.drain`: the next frame of a file, answered
  ``lookahead`` frames later with the two-way filter;
* :meth:`~StreamSegmenter.still`: one photo on its own (the crop, if following, is found by a first look at the
  whole photo).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .motion import Box, crop_view
from .refine import grey_frame, guide_lowres
from .segmenter import Segmenter
from .subject import SubjectConfig, SubjectTracker
from .temporal import TemporalConfig, TemporalSmoother
from .twoway import TwoWaySmoother
from .workspace import Workspace


@dataclass
class Segmented:
    """One frame after the segment stage: ``prob`` (h x w, the model's resolution) covers ``box`` of ``rgb``.

    ``guide``/``guide_low`` are the grey crop and its thumbnail at ``prob``'s size when already computed (for
    refinement to reuse), else None; ``guide_seconds`` is the time computing them took (counted as refinement's).
    """

    rgb: np.ndarray
    box: Box | None
    prob: np.ndarray
    guide: np.ndarray | None = None
    guide_low: np.ndarray | None = None
    guide_seconds: float = 0.0

    @property
    def src(self) -> np.ndarray:
        """The part of the frame ``prob`` covers (a view)."""
        return crop_view(self.rgb, self.box)


class StreamSegmenter:
    """Segments the frames of one stream with subject focus and temporal smoothing (either may be off).

    ``ws`` is the pipeline's workspace: the grey frame and thumbnail computed here are the ones refinement reuses.
    """

    def __init__(self, segmenter: Segmenter, temporal: TemporalConfig | None = None,
                 subject: SubjectConfig | None = None, ws: Workspace | None = None) -> None:
        self.segmenter = segmenter
        self.temporal = temporal
        self.subject = subject if subject is not None and subject.active else None
        self._ws = ws or Workspace()
        h, w = segmenter.info.input_size
        self._model_wh = (w, h)
        self.tracker = SubjectTracker(self.subject, self._model_wh) if self.subject is not None else None
        self.twoway = TwoWaySmoother(temporal) if temporal is not None else None
        self._held: deque[tuple[np.ndarray, Box | None]] = deque()  # frames pushed, not yet answered

    @property
    def smoother(self) -> TemporalSmoother | None:
        """The causal smoother (None when temporal smoothing is off)."""
        return self.twoway.forward if self.twoway is not None else None

    def reset(self) -> None:
        """A new stream: forget the smoothing state, the subject and any frames held."""
        if self.twoway is not None:
            self.twoway.reset()
        if self.tracker is not None:
            self.tracker.reset()
        self._held.clear()

    def _model(self, rgb: np.ndarray, box: Box | None) -> tuple[np.ndarray, np.ndarray]:
        """(the model's map over ``box`` with the kept people, the part of the frame it saw: a view)."""
        src = crop_view(rgb, box)
        # The frame and box, not the view: a look-ahead segmenter finds the work it did ahead of time by them.
        prob = self.segmenter.predict_lowres(rgb, box=box)
        if self.tracker is not None:
            prob = self.tracker.observe(prob, box, rgb.shape)
            if self.tracker.due:  # now and then the whole frame too, for someone new (only to plan the crop)
                self.tracker.look(self.segmenter.predict_lowres(rgb), rgb.shape)
        return prob, src

    def next_box(self, frame_shape: tuple[int, ...]) -> Box | None:
        """The part of the next frame the model will look at (None: all of it), as planned so far."""
        return self.tracker.crop(frame_shape) if self.tracker is not None else None

    def _guides(self, src: np.ndarray, prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        guide = grey_frame(src, self._ws)
        return guide, guide_lowres(guide, (prob.shape[1], prob.shape[0]), self._ws)

    def segment(self, rgb: np.ndarray, catch_up: int = 0) -> Segmented:
        """The next frame of a live stream, smoothed with the frames before it (causal); ``catch_up`` more smoothing
        steps with this frame's map stand for frames the model skipped (a governor's)."""
        box = self.tracker.crop(rgb.shape) if self.tracker is not None else None
        prob, src = self._model(rgb, box)
        if self.twoway is None:
            return Segmented(rgb, box, prob)
        tg = time.perf_counter()
        guide, guide_low = self._guides(src, prob)
        t_guide = time.perf_counter() - tg
        smoother = self.twoway.forward
        resets = smoother.resets
        smoothed = smoother.smooth(prob, guide_low, rgb.shape, box)
        if box is not None and smoother.resets > resets:  # a cut, seen through the old crop: look at it whole
            self.tracker.reset()
            smoother.reset()
            box = None
            prob, src = self._model(rgb, None)
            tg = time.perf_counter()
            guide, guide_low = self._guides(src, prob)
            t_guide += time.perf_counter() - tg
            smoothed = smoother.smooth(prob, guide_low, rgb.shape, None)
        for _ in range(catch_up):
            smoothed = smoother.smooth(prob, guide_low, rgb.shape, box)
        return Segmented(rgb, box, smoothed, guide, guide_low, t_guide)

    def push(self, rgb: np.ndarray) -> Segmented | None:
        """The next frame of a file; the frame ``lookahead`` pushes back, smoothed both ways (None while filling).

        The frame is kept, not copied, until it is answered (do not write to it meanwhile). Without temporal
        smoothing each push is answered at once.
        """
        if self.twoway is None or self.twoway.config.lookahead == 0:
            return self.segment(rgb)
        box = self.tracker.crop(rgb.shape) if self.tracker is not None else None
        prob, src = self._model(rgb, box)
        guide_low = self._guides(src, prob)[1]
        resets = self.twoway.forward.resets
        out = self.twoway.push(prob, guide_low, rgb.shape, box)
        if box is not None and self.twoway.forward.resets > resets:  # a cut, seen through the old crop
            self.tracker.reset()
            box = None
            prob, src = self._model(rgb, None)
            self.twoway.redo(prob, self._guides(src, prob)[1], rgb.shape, None)
        self._held.append((rgb, box))
        return None if out is None else self._answer(out)

    def drain(self) -> Iterator[Segmented]:
        """The frames still held at the end of a file, oldest first."""
        if self.twoway is None:
            return
        for out in self.twoway.drain():
            yield self._answer(out)

    def _answer(self, prob: np.ndarray) -> Segmented:
        frame, box = self._held.popleft()
        return Segmented(frame, box, prob)

    def still(self, rgb: np.ndarray) -> Segmented:
        """One photo on its own (the stream's state is untouched): a first look at all of it finds the subject,
        a second at the crop around it when following."""
        if self.subject is None:
            return Segmented(rgb, None, self.segmenter.predict_lowres(rgb))
        tracker = SubjectTracker(self.subject, self._model_wh)
        prob = tracker.observe(self.segmenter.predict_lowres(rgb), None, rgb.shape)
        box = tracker.crop(rgb.shape)
        if box is not None:
            crop_prob = tracker.observe(self.segmenter.predict_lowres(rgb, box=box), box, rgb.shape)
            if crop_prob.max(initial=0.0) >= 0.5:  # else the first look stands
                return Segmented(rgb, box, crop_prob)
        return Segmented(rgb, None, prob)
