"""Subject focus: which people to keep (``all`` or the ``main`` one), and following them with a crop.

* **Main subject** (``keep="main"``): the foreground of the low-resolution probability is split into connected
  regions (slightly dilated, so an arm cut off at a thin elbow stays attached) and only the one with the best
  score, its area weighted by its nearness to the frame's centre, is kept; in a stream the region that overlaps
  the previous main subject wins, so the choice does not jump to a passer-by. A video call's person stays, the
  people behind go.
* **Follow** (``follow=True``): the model runs on a crop around where the subject was in the previous frame
  (grown by ``margin``, at least ``aspect`` as wide as high, never smaller than the model's input), so a small or
  full-body person gets more of the model's pixels at the same cost. The crop holds still while the subject
  stays well inside it (fewer warps and reallocations), and it is re-found on the whole frame after a scene cut
  (:meth:`SubjectTracker.reset`) and when the subject is lost. Keeping ``all`` people, the model also looks at the
  whole frame every ``refind`` frames (one more run, about once a second) to notice someone new: that look only
  widens the next crop, the frame's own mask stays the crop's (taking the whole-frame mask instead flickered on
  every look: still-scene flicker 0.35 against 0.11 on davis-dance-twirl). A photo is looked at twice: the whole
  photo, then the crop.

Numpy and OpenCV only; the maps are the model's low-resolution probabilities over a ``box`` of the frame
(:data:`~.motion.Box`, None = the whole frame).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

from ..names import SUBJECTS
from .motion import Box, full_box

KEEP = SUBJECTS
FULL_FRAME_SHARE = 0.7  # a crop covering this share of the frame's area or more gains too little: use the frame
# A new crop is this much wider and higher than needed, so it can hold still while the subject moves a little;
# it is replaced when the subject leaves it or when it has grown this many times the area needed.
HOLD = 0.1
SHRINK = 1.6
# A crop's map fades to 0 over this share of its size at its border: the faint probability the model gives a crop's
# background met the 0 around the crop at a visible step in soft mattes (well inside the margin, people are untouched).
TAPER = 0.03


@dataclass(frozen=True)
class SubjectConfig:
    """Who is kept and whether the model follows them with a crop (see the module docstring).

    keep: ``"all"`` people or the ``"main"`` one. follow: run the model on a crop around the subject.
    margin: the crop's border around the subject's box, as a share of that box's width and height on each side.
    aspect: the crop's least width / height (the default model was trained on 3:4 portraits). refind: frames
    between extra looks at the whole frame for new people when following ``all`` (0: only after a cut or a loss).
    min_area: share of the map a foreground region needs to count for the crop (specks are ignored).
    """

    keep: str = "all"
    follow: bool = False
    margin: float = 0.1
    aspect: float = 0.75
    refind: int = 30
    min_area: float = 0.002

    def __post_init__(self) -> None:
        if self.keep not in KEEP:
            raise ValueError(f"subject must be one of {', '.join(KEEP)}, got {self.keep!r}")
        if not (0.0 <= self.margin <= 2.0 and 0.1 <= self.aspect <= 10.0 and 0.0 <= self.min_area < 1.0):
            raise ValueError("subject margin must be in 0..2, aspect in 0.1..10 and min_area in 0..1")
        if isinstance(self.refind, bool) or not isinstance(self.refind, int) or self.refind < 0:
            raise ValueError(f"subject refind must be a whole number of frames >= 0, got {self.refind!r}")

    @property
    def active(self) -> bool:
        """Whether this changes anything (keeping all people without a crop is the plain pipeline)."""
        return self.keep == "main" or self.follow


@functools.lru_cache(maxsize=8)
def _taper(shape: tuple[int, int]) -> np.ndarray:
    """A map of ``shape`` that is 1 inside and falls linearly to 0 over its outer :data:`TAPER` on every side."""
    ramps = [np.clip(np.minimum(np.arange(n) + 0.5, n - 0.5 - np.arange(n)) / max(1.0, TAPER * n), 0, 1)
             for n in shape]
    window = np.outer(ramps[0], ramps[1]).astype(np.float32)
    window.flags.writeable = False
    return window


def _to_frame(box: Box, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """Scale factors and offsets from a ``size`` = (w, h) map over ``box`` to frame pixels: (sx, ox, sy, oy)."""
    return (box[2] - box[0]) / size[0], box[0], (box[3] - box[1]) / size[1], box[1]


class SubjectTracker:
    """One stream's subject: picks the main region of each map and plans the crop for the next frame."""

    def __init__(self, config: SubjectConfig, model_size: tuple[int, int]) -> None:
        self.config = config
        self.model_size = model_size  # (w, h) of the model input: a crop is never smaller
        self.reset()

    def reset(self) -> None:
        """Forget the subject (a new stream, a scene cut): the next frame is looked at whole."""
        self._box: Box | None = None  # crop planned for the next frame
        self._main: tuple[float, float, float, float] | None = None  # the main subject's box in frame pixels
        self._seen: tuple[float, float, float, float] | None = None  # where the kept people were in the last map
        self._since_full = 0

    def crop(self, frame_shape: tuple[int, ...]) -> Box | None:
        """The part of this frame to run the model on (None: the whole frame)."""
        if not self.config.follow or self._box is None:
            return None
        x0, y0, x1, y1 = self._box
        if x1 > frame_shape[1] or y1 > frame_shape[0]:  # the frame size changed
            self.reset()
            return None
        return self._box

    @property
    def due(self) -> bool:
        """Whether the whole frame should also be looked at now, for people outside the crop (:meth:`look`)."""
        cfg = self.config
        return cfg.follow and cfg.keep == "all" and cfg.refind > 0 and self._box is not None \
            and self._since_full >= cfg.refind

    def observe(self, prob: np.ndarray, box: Box | None, frame_shape: tuple[int, ...]) -> np.ndarray:
        """This frame's map over ``box`` with only the kept people, and the next crop planned.

        ``prob`` is not written to; for the whole frame with ``keep="all"`` it is returned as it is, else a new
        array (a crop's map fades out at its border, :data:`TAPER`).
        """
        box = full_box(frame_shape) if box is None else box
        crop = box != full_box(frame_shape)
        self._since_full = self._since_full + 1 if crop else 0
        regions, labels, stats, centroids, scale = self._regions(prob, box)
        if self.config.keep == "main":
            regions = self._pick_main(regions, stats, centroids, scale, frame_shape)
            out = np.where(np.isin(labels, regions), prob, np.float32(0)).astype(np.float32, copy=False)
        else:
            out = prob
        if crop:  # the frame around a crop is 0: fade the crop's faint background to meet it without a step
            out = np.multiply(out, _taper(prob.shape), dtype=np.float32)
        self._seen = self._extent(regions, stats, scale)
        self._plan(self._seen, frame_shape)
        return out

    def look(self, prob: np.ndarray, frame_shape: tuple[int, ...]) -> None:
        """A look at the whole frame (``prob`` over all of it) besides the crop: the next crop also takes in the
        people found outside it. This frame's own map stays the crop's, so the look adds no flicker."""
        self._since_full = 0
        regions, _, stats, _, scale = self._regions(prob, full_box(frame_shape))
        found = self._extent(regions, stats, scale)
        if found is not None and self._seen is not None:
            found = (min(found[0], self._seen[0]), min(found[1], self._seen[1]), max(found[2], self._seen[2]),
                     max(found[3], self._seen[3]))
        self._plan(found or self._seen, frame_shape)

    def _regions(self, prob: np.ndarray, box: Box) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray, tuple]:
        """The foreground regions of a map over ``box`` big enough to count: (labels kept, label map, stats with
        each region's undilated box in map cells, centroids, map-to-frame scale)."""
        h, w = prob.shape
        fg = (prob >= 0.5).astype(np.uint8)
        # Regions of the foreground, a little dilated so that limbs stay joined to their body.
        r = max(1, round(0.01 * max(h, w)))
        joined = cv2.dilate(fg, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(joined, connectivity=8)
        min_px = self.config.min_area * h * w
        regions = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_px]
        stats[:, :4] += (r, r, -2 * r, -2 * r)  # the regions' boxes without the dilation
        return regions, labels, stats, centroids, _to_frame(box, (w, h))

    @staticmethod
    def _extent(regions: list[int], stats: np.ndarray, scale: tuple[float, float, float, float],
                ) -> tuple[float, float, float, float] | None:
        """(x0, y0, x1, y1) in frame pixels around ``regions``; None when there are none."""
        if not regions:
            return None
        sx, ox, sy, oy = scale
        x0 = min(stats[i, cv2.CC_STAT_LEFT] for i in regions)
        y0 = min(stats[i, cv2.CC_STAT_TOP] for i in regions)
        x1 = max(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] for i in regions)
        y1 = max(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] for i in regions)
        return ox + x0 * sx, oy + y0 * sy, ox + x1 * sx, oy + y1 * sy

    def _pick_main(self, regions: list[int], stats: np.ndarray, centroids: np.ndarray,
                   scale: tuple[float, float, float, float], frame_shape: tuple[int, ...]) -> list[int]:
        """The region of the main subject (a list of at most one label), remembered for the next frame."""
        if not regions:
            self._main = None
            return []
        sx, ox, sy, oy = scale
        H, W = frame_shape[:2]
        half_diag = 0.5 * float(np.hypot(W, H))
        boxes = {}
        scores = {}
        for i in regions:
            x, y, bw, bh, area = stats[i]
            boxes[i] = (ox + x * sx, oy + y * sy, ox + (x + bw) * sx, oy + (y + bh) * sy)
            cx, cy = ox + (centroids[i][0] + 0.5) * sx, oy + (centroids[i][1] + 0.5) * sy
            near = max(0.0, 1.0 - float(np.hypot(cx - W / 2, cy - H / 2)) / half_diag)
            scores[i] = area * sx * sy * near * near
        if self._main is not None:  # keep following the same person while they overlap where they were
            mx0, my0, mx1, my1 = self._main
            overlapping = [i for i in regions if boxes[i][0] < mx1 and boxes[i][2] > mx0 and boxes[i][1] < my1
                           and boxes[i][3] > my0]
            if overlapping:
                scores = {i: scores[i] for i in overlapping}
        best = max(scores, key=scores.__getitem__)
        self._main = boxes[best]
        return [best]

    def _plan(self, extent: tuple[float, float, float, float] | None, frame_shape: tuple[int, ...]) -> None:
        """The crop for the next frame: around ``extent``, grown, widened, kept inside the frame; None if lost."""
        if not self.config.follow:
            return
        if extent is None:
            self._box = None  # lost: look at the whole frame next
            return
        x0, y0, x1, y1 = extent
        cfg, (H, W) = self.config, frame_shape[:2]
        bw, bh = (x1 - x0) * (1 + 2 * cfg.margin), (y1 - y0) * (1 + 2 * cfg.margin)
        bw = max(bw, cfg.aspect * bh, self.model_size[0])
        bh = max(bh, self.model_size[1])
        bw, bh = min(bw, W), min(bh, H)
        old = self._box
        # Hysteresis: a crop is kept until the subject needs FULL_FRAME_SHARE of the frame, but a new one is started
        # only when the crop actually made (HOLD larger) stays under it. Without it, people spread across a still
        # frame flipped crop / whole frame / crop on every frame (each view finds a slightly different extent): the
        # still-scene flicker went from 0.24 to 1.5.
        grown = min(bw * (1 + HOLD), W), min(bh * (1 + HOLD), H)  # the crop a new one would be
        need = bw * bh if old is not None else grown[0] * grown[1]
        if need >= FULL_FRAME_SHARE * W * H:
            self._box = None
            return
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        if old is not None and old[0] <= cx - bw / 2 and old[1] <= cy - bh / 2 and old[2] >= cx + bw / 2 \
                and old[3] >= cy + bh / 2 and (old[2] - old[0]) * (old[3] - old[1]) <= SHRINK * bw * bh:
            return  # the subject is still well inside the crop: keep it
        bw, bh = grown
        nx0 = int(round(min(max(cx - bw / 2, 0), W - bw)))
        ny0 = int(round(min(max(cy - bh / 2, 0), H - bh)))
        self._box = (nx0, ny0, min(W, nx0 + int(round(bw))), min(H, ny0 + int(round(bh))))
