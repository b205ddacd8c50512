"""Teacher labels: person masks for unlabelled photos, written by teacher models and guided by person boxes.

For each box, a crop around it (the box grown by ``margin``) is shown to every teacher; the full-body teacher
(MediaPipe pose) labels crops of whole standing people, the close-up teacher (MediaPipe selfie, or any segblur
model) the others, and the other teachers can only veto background. Crops are pasted back and merged: person
where any crop says person, background where the crops agree on background, 255 (ignore) where unsure. Pixels
outside every box that a whole-image teacher calls person are ignore (boxes miss people), and so are boxes too
small to label and given boxes in which the labelling teacher finds nobody (the box says someone is there: the
teacher missed them). Without boxes, boxes are taken from the whole-image teachers' masks.

Masks: uint8, 0 background, 1 person, 255 ignore. No torch: labelling only runs teachers (see :mod:`.teachers`).
The rules and thresholds below were tuned on training data only (Shen train/unlisted, Vikram train; see
``benchmarks/teacher_quality.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .teachers import RegionResult, Teacher, crop_region, pick_rotation, run_region, standing, turn_boxes

IGNORE = 255
ROTATIONS = (90, 270)  # tried for boxes wider than tall (people lying down, photos turned sideways)


class LabelError(ValueError):
    """A problem with one input (its boxes, its image) or with the whole run: one line naming the file."""


@dataclass(frozen=True)
class LabelSettings:
    """How crops are made, which teacher labels them, and which pixels are too uncertain to label.

    Defaults measured on Shen train (every 4th) + unlisted and Vikram train, boxes from the ground truth's blobs
    (``benchmarks/teacher_quality.py --sets shen:train,shen:unlisted,vikram:train`` and ``--set KEY=VALUE``).
    """

    # Crop = box grown by this x its long side on every side: 0.1 beat 0.25 for both teachers (per-crop IoU,
    # selfie 0.924 vs 0.917 on Vikram; MediaPipe's own pose crop is 1.25x the body).
    margin: float = 0.1
    # Probability band left unlabelled (255): 0.35..0.65 raised kept-pixel IoU from 0.936 to 0.953 (Vikram) and
    # 0.963 to 0.973 (Shen) for 2.4% and 2.2% of pixels ignored. Outside boxes: every whole-image teacher's.
    low: float = 0.35
    high: float = 0.65
    # Another teacher at or above this on a pixel the labelling one calls background: ignore (people the crop's
    # teacher leaves out, e.g. pose in a group box); +0.004..0.008 kept IoU for +0.3..1% ignored at 0.5.
    veto: float = 0.5
    # Boxes whose long side is under this (pixels) are ignore: kept IoU 0.62 at 20-30 px, 0.86 at 30-40 and
    # >= 0.91 above (Vikram train photos shrunk 3x and 6x).
    min_box: float = 30.0
    # Pose labels a box at least this tall for its width whose knees and ankles it sees (visibility >= legs),
    # selfie the others: in such Vikram boxes pose 0.920 vs selfie 0.898 IoU; elsewhere selfie wins by far.
    full_body_aspect: float = 1.8
    full_body_legs: float = 0.3
    # Boxes this much wider than tall are also tried turned by 90 and 270 degrees (people lying, photos sideways);
    # a turn is taken when pose sees people standing (presence x uprightness) at least rotate_min and
    # rotate_margin times better than unturned (see teachers.pick_rotation).
    rotate_aspect: float = 1.2
    rotate_min: float = 0.2
    rotate_margin: float = 1.3
    # Without boxes: boxes around whole-image person blobs of at least this fraction of the image.
    auto_box_area: float = 0.002
    # A blob outside every box that the whole-image teachers call person stays ignore only if pose, shown its
    # crop, has presence >= verify_presence and covers >= verify_cover of it; else it is background (things
    # that look like people). Vikram train with one box per photo: 3.1% -> 2.7% ignored, kept IoU unchanged
    # (cover 0.5 or more starts calling unboxed people background).
    verify_presence: float = 0.9
    verify_cover: float = 0.3
    # Outside the boxes the close-up teachers also look at a tiles x tiles grid of the photo (1: the whole photo
    # only). Small people are found better (selfie recall of people shown 4x smaller 0.60 -> 0.78 at 2x2);
    # kept IoU unchanged on Vikram (one box per photo) and Shen, for +0.04..0.35% ignored pixels.
    tiles: int = 2

    def __post_init__(self) -> None:
        if not 0.0 <= self.low <= self.high <= 1.0:
            raise ValueError(f"need 0 <= low <= high <= 1 (low {self.low}, high {self.high})")
        if not 0.0 <= self.veto <= 1.0:
            raise ValueError(f"veto must be a probability in 0..1, not {self.veto}")
        for name in ("margin", "min_box", "full_body_aspect", "full_body_legs", "rotate_aspect", "rotate_min",
                     "rotate_margin", "auto_box_area", "tiles"):
            if not getattr(self, name) >= 0.0:
                raise ValueError(f"{name} must not be negative ({getattr(self, name)})")

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass
class ImageLabel:
    """The mask of one image and how it was made (per box: teacher, rotation or why it was skipped)."""

    mask: np.ndarray
    boxes: list[dict[str, Any]] = field(default_factory=list)  # in the upright photo's pixels
    auto_boxes: bool = False
    rotation: int = 0  # the photo was labelled turned clockwise by this

    def stats(self) -> dict[str, Any]:
        return mask_stats(self.mask) | {"rotation": self.rotation, "auto_boxes": self.auto_boxes, "boxes": self.boxes}


def mask_stats(mask: np.ndarray) -> dict[str, float]:
    """Ignore fraction, and person fraction of all pixels, of a 0/1/255 mask."""
    n = max(1, mask.size)
    return {"ignore": round(float((mask == IGNORE).sum()) / n, 4), "person": round(float((mask == 1).sum()) / n, 4)}


def read_boxes(path: str | Path, size: tuple[int, int] | None = None) -> np.ndarray:
    """Person boxes ``x0 y0 x1 y1`` (pixels), one per line -> n x 4 float32; clipped to ``size`` = (W, H).

    Blank lines and ``#`` comments are skipped. :class:`LabelError` names the file and line of a bad box.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LabelError(f"{p}: no such boxes file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise LabelError(f"{p}: cannot read boxes ({getattr(e, 'strerror', None) or e})") from None
    boxes = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        try:
            b = [float(v) for v in line.split()]
        except ValueError:
            b = []
        if len(b) != 4 or not all(np.isfinite(b)):
            raise LabelError(f"{p}: line {n}: expected 4 numbers x0 y0 x1 y1, got {line[:60]!r}")
        if b[2] <= b[0] or b[3] <= b[1]:
            raise LabelError(f"{p}: line {n}: empty box {line[:60]!r} (need x0 < x1 and y0 < y1)")
        if size is not None:
            b = [min(max(v, 0.0), float(size[i % 2])) for i, v in enumerate(b)]
            if b[2] <= b[0] or b[3] <= b[1]:
                raise LabelError(f"{p}: line {n}: box {line[:60]!r} lies outside the image ({size[0]}x{size[1]})")
        boxes.append(b)
    return np.array(boxes, np.float32).reshape(-1, 4)


def _full_body(teachers: Sequence[Teacher]) -> Teacher | None:
    return next((t for t in teachers if t.kind == "pose"), None)


def _close_up(teachers: Sequence[Teacher]) -> Teacher | None:
    return next((t for t in teachers if t.kind != "pose"), None)


def _run_box(image: np.ndarray, box: np.ndarray, teachers: Sequence[Teacher],
             s: LabelSettings) -> tuple[dict[str, RegionResult], int]:
    """Every teacher on the box's crop, turned by the rotation the full-body teacher finds most person-like."""
    region = crop_region(box, s.margin)
    fb = _full_body(teachers)
    rotation = 0
    results: dict[str, RegionResult] = {}
    if fb is not None:
        results[fb.name] = run_region(fb, image, region)
        w, h = box[2] - box[0], box[3] - box[1]
        if w > s.rotate_aspect * h:
            turned = {r: run_region(fb, image, region, r) for r in ROTATIONS}
            best = pick_rotation({0: standing(results[fb.name].extras), **{r: standing(t.extras)
                                                                             for r, t in turned.items()}},
                                 s.rotate_min, s.rotate_margin)
            if best:
                results[fb.name], rotation = turned[best], best
    for t in teachers:
        if t.name not in results:
            results[t.name] = run_region(t, image, region, rotation)
    return results, rotation


def choose_teacher(box: np.ndarray, rotation: int, results: dict[str, RegionResult], teachers: Sequence[Teacher],
                   s: LabelSettings) -> Teacher:
    """The teacher that labels a crop: the full-body one for a tall box (in the upright frame) whose legs it
    sees, else the first close-up teacher; a lone teacher labels everything."""
    fb, cu = _full_body(teachers), _close_up(teachers)
    if fb is None or cu is None:
        return fb or cu  # type: ignore[return-value]
    w, h = float(box[2] - box[0]), float(box[3] - box[1])
    if rotation % 180:
        w, h = h, w
    legs = results[fb.name].extras.get("legs", 0.0)
    return fb if h >= s.full_body_aspect * w and legs >= s.full_body_legs else cu


def auto_boxes(whole: Sequence[RegionResult], shape: tuple[int, int], s: LabelSettings) -> np.ndarray:
    """Boxes around the blobs any whole-image teacher calls person (for photos without boxes)."""
    person = np.zeros(shape, np.uint8)
    for r in whole:
        person |= (r.full(shape)[0] >= 0.5).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(person, connectivity=8)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= s.auto_box_area * shape[0] * shape[1]]
    return np.array([[stats[i, 0], stats[i, 1], stats[i, 0] + stats[i, 2], stats[i, 1] + stats[i, 3]]
                     for i in keep], np.float32).reshape(-1, 4)


def _tiles(image: np.ndarray, teachers: Sequence[Teacher], s: LabelSettings) -> list[RegionResult]:
    """The close-up teachers on a ``tiles`` x ``tiles`` grid of overlapping crops (each 1.2 / tiles of the
    photo's side): they find small people that the whole photo, shrunk to their input, hides."""
    h, w = image.shape[:2]
    n = s.tiles
    if n < 2:
        return []
    f = min(1.0, 1.2 / n)
    starts = np.linspace(0.0, 1.0 - f, n)
    return [run_region(t, image, (x * w, y * h, (x + f) * w, (y + f) * h))
            for t in teachers if t.kind != "pose" for y in starts for x in starts]


def _not_people(image: np.ndarray, blobs: np.ndarray, in_box: np.ndarray, teachers: Sequence[Teacher],
                s: LabelSettings) -> np.ndarray:
    """The blobs outside every box that the whole-image teachers call person but the full-body teacher, shown a
    crop of each, does not: things that look like people to the whole-image teachers (flags, posters, trees)."""
    fb = _full_body(teachers)
    out = np.zeros(blobs.shape, bool)
    if fb is None or s.verify_presence <= 0:
        return out
    n, lab, stats, _ = cv2.connectedComponentsWithStats((blobs & ~in_box).astype(np.uint8), connectivity=8)
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if area < s.auto_box_area * blobs.size:
            continue
        res = run_region(fb, image, crop_region((x, y, x + w, y + h), s.margin))
        blob = lab == i
        prob, _ = res.full(blobs.shape)
        if res.extras.get("presence", 1.0) < s.verify_presence or (prob[blob] >= 0.5).mean() < s.verify_cover:
            out |= blob
    return out


def image_rotation(image: np.ndarray, boxes: np.ndarray | None, teachers: Sequence[Teacher],
                   s: LabelSettings) -> int:
    """How far to turn a photo clockwise so its people stand up: when most of the box area is in boxes
    wider than tall (a photo turned sideways), the rotation where the full-body teacher sees people standing
    most surely (:func:`standing` averaged over the boxes, weighted by area), if it wins clearly; else 0."""
    fb = _full_body(teachers)
    if fb is None or boxes is None or not len(boxes):
        return 0
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    area = w * h
    if area[w > s.rotate_aspect * h].sum() <= 0.5 * area.sum():
        return 0
    score = {r: sum(a * standing(run_region(fb, image, crop_region(box, s.margin), r).extras)
                    for box, a in zip(b, area)) / area.sum() for r in (0, *ROTATIONS)}
    return pick_rotation(score, s.rotate_min, s.rotate_margin)


def label_image(image: np.ndarray, boxes: np.ndarray | None, teachers: Sequence[Teacher],
                settings: LabelSettings | None = None) -> ImageLabel:
    """Label one RGB uint8 image with ``teachers`` guided by ``boxes`` (n x 4 pixels; None: found by the
    teachers). Returns the 0/1/255 mask and, per box, which teacher labelled it. A photo turned sideways
    (see :func:`image_rotation`) is labelled turned upright, and its mask turned back."""
    if not teachers:
        raise LabelError("no teacher to label with")
    s = settings or LabelSettings()
    rotation = image_rotation(image, boxes, teachers, s)
    if not rotation:
        return _label_upright(image, boxes, teachers, s)
    k = -rotation // 90  # np.rot90 turns anticlockwise
    turned = np.ascontiguousarray(np.rot90(image, k))
    result = _label_upright(turned, turn_boxes(boxes, (image.shape[1], image.shape[0]), rotation), teachers, s)
    result.mask = np.ascontiguousarray(np.rot90(result.mask, -k))
    result.rotation = rotation
    return result


def _label_upright(image: np.ndarray, boxes: np.ndarray | None, teachers: Sequence[Teacher],
                   s: LabelSettings) -> ImageLabel:
    H, W = image.shape[:2]
    whole = [run_region(t, image, (0.0, 0.0, float(W), float(H))) for t in teachers]
    found = boxes is None
    if boxes is None:
        boxes = auto_boxes(whole, (H, W), s)
    person = np.zeros((H, W), bool)
    background = np.zeros((H, W), bool)
    unsure = np.zeros((H, W), bool)
    in_box = np.zeros((H, W), bool)
    info: list[dict[str, Any]] = []
    for box in np.asarray(boxes, np.float32).reshape(-1, 4):
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        in_box[y0:y1, x0:x1] = True
        entry: dict[str, Any] = {"box": [round(float(v), 1) for v in box]}
        info.append(entry)
        if max(box[2] - box[0], box[3] - box[1]) < s.min_box:
            unsure[y0:y1, x0:x1] = True
            entry["skipped"] = "small"
            continue
        results, rotation = _run_box(image, box, teachers, s)
        teacher = choose_teacher(box, rotation, results, teachers, s)
        entry.update(teacher=teacher.name, rotation=rotation)
        prob, cov = results[teacher.name].full((H, W))
        other = np.zeros((H, W), np.float32)
        for name, r in results.items():
            if name != teacher.name:
                other = np.maximum(other, r.full((H, W))[0])
        is_person = cov & (prob >= s.high)
        is_background = cov & (prob <= s.low) & (other < s.veto)
        person |= is_person
        background |= is_background
        unsure |= cov & ~is_person & ~is_background
        if not found and not is_person[y0:y1, x0:x1].any():
            # A given box says someone is there: a teacher that finds nobody has missed them, not shown background.
            unsure[y0:y1, x0:x1] = True
            entry["nobody"] = True
    whole_max = np.max([r.full((H, W))[0] for r in whole + _tiles(image, teachers, s)], axis=0)
    clear = (whole_max <= s.low) | _not_people(image, whole_max >= 0.5, in_box, teachers, s)
    mask = np.full((H, W), IGNORE, np.uint8)
    mask[clear & ~in_box] = 0
    mask[background & ~unsure & (in_box | clear)] = 0
    mask[unsure] = IGNORE
    mask[person] = 1
    return ImageLabel(mask, info, found)
