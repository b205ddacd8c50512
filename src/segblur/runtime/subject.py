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
  (:meth:`SubjectTracker.reset`), when the subject is lost, and, keeping ``all`` people, every ``refind`` frames
  to notice someone new. A photo is looked at twice: the whole photo, then the crop.

Numpy and OpenCV only; the maps are the model's low-resolution probabilities over a ``box`` of the frame
(:data:`~.motion.Box`, None = the whole frame).
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class SubjectConfig:
    """Who is kept and whether the model follows them with a crop (see the module docstring).

    keep: ``"all"`` people or the ``"main"`` one. follow: run the model on a crop around the subject.
    margin: the crop's border around the subject's box, as a share of that box's width and height on each side.
    aspect: the crop's least width / height (the default model was trained on 3:4 portraits). refind: frames
    between looks at the whole frame for new people when following ``all`` (0: only after a cut or a loss).
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
        self._since_full = 0

    def crop(self, frame_shape: tuple[int, ...]) -> Box | None:
        """The part of this frame to run the model on (None: the whole frame)."""
        if not self.config.follow or self._box is None:
            return None
        if self.config.keep == "all" and self.config.refind and self._since_full >= self.config.refind:
            return None
        x0, y0, x1, y1 = self._box
        if x1 > frame_shape[1] or y1 > frame_shape[0]:  # the frame size changed
            self.reset()
            return None
        return self._box

    def observe(self, prob: np.ndarray, box: Box | None, frame_shape: tuple[int, ...]) -> np.ndarray:
        """This frame's map over ``box`` with only the kept people (``main``: a new array), and the next crop planned.

        ``prob`` is not written to; with ``keep="all"`` it is returned as it is.
        """
        box = full_box(frame_shape) if box is None else box
        full = box == full_box(frame_shape)
        self._since_full = 0 if full else self._since_full + 1
        h, w = prob.shape
        fg = (prob >= 0.5).astype(np.uint8)
        # Regions of the foreground, a little dilated so that limbs stay joined to their body.
        r = max(1, round(0.01 * max(h, w)))
        joined = cv2.dilate(fg, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        n, labels, stats, centroids = cv2.connectedComponentsWithStats(joined, connectivity=8)
        sx, ox, sy, oy = _to_frame(box, (w, h))
        min_px = self.config.min_area * h * w
        regions = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_px]
        if self.config.keep == "main":
            regions = self._pick_main(regions, stats, centroids, (sx, ox, sy, oy), frame_shape)
            keep = np.isin(labels, regions)
            out = np.where(keep, prob, np.float32(0)).astype(np.float32, copy=False)
        else:
            out = prob
        stats[:, :4] += (r, r, -2 * r, -2 * r)  # the regions' boxes without the dilation
        self._plan(regions, stats, (sx, ox, sy, oy), frame_shape)
        return out

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

    def _plan(self, regions: list[int], stats: np.ndarray, scale: tuple[float, float, float, float],
              frame_shape: tuple[int, ...]) -> None:
        """The crop for the next frame: around ``regions``, grown, widened, kept inside the frame; None if lost."""
        if not self.config.follow:
            return
        if not regions:
            self._box = None  # lost: look at the whole frame next
            return
        sx, ox, sy, oy = scale
        xs0 = min(stats[i, cv2.CC_STAT_LEFT] for i in regions)
        ys0 = min(stats[i, cv2.CC_STAT_TOP] for i in regions)
        xs1 = max(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH] for i in regions)
        ys1 = max(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT] for i in regions)
        x0, x1, y0, y1 = ox + xs0 * sx, ox + xs1 * sx, oy + ys0 * sy, oy + ys1 * sy
        cfg, (H, W) = self.config, frame_shape[:2]
        bw, bh = (x1 - x0) * (1 + 2 * cfg.margin), (y1 - y0) * (1 + 2 * cfg.margin)
        bw = max(bw, cfg.aspect * bh, self.model_size[0])
        bh = max(bh, self.model_size[1])
        bw, bh = min(bw, W), min(bh, H)
        if bw * bh >= FULL_FRAME_SHARE * W * H:
            self._box = None
            return
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        old = self._box
        if old is not None and old[0] <= cx - bw / 2 and old[1] <= cy - bh / 2 and old[2] >= cx + bw / 2 \
                and old[3] >= cy + bh / 2 and (old[2] - old[0]) * (old[3] - old[1]) <= SHRINK * bw * bh:
            return  # the subject is still well inside the crop: keep it
        bw, bh = min(bw * (1 + HOLD), W), min(bh * (1 + HOLD), H)
        nx0 = int(round(min(max(cx - bw / 2, 0), W - bw)))
        ny0 = int(round(min(max(cy - bh / 2, 0), H - bh)))
        self._box = (nx0, ny0, min(W, nx0 + int(round(bw))), min(H, ny0 + int(round(bh))))
