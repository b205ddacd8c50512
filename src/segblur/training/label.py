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

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..data import DatasetError, read_png_indices
from ..io import one_line, write_atomic
from ..media.images import ImageError, read_image, write_image
from ..progress import Progress
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


# ------------------------------------------------------------------------------------------- a folder of photos

LABELS_FORMAT = 1
EXISTING = ("refuse", "overwrite", "skip")


class LabelsExistError(LabelError):
    """OUT already holds labels and the run was asked neither to overwrite nor to skip them."""


def _labels_json(out: Path) -> dict[str, Any] | None:
    path = out / "labels.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LabelError(f"{path}: cannot read ({one_line(e)})") from None


def _stats_of(mask_path: Path) -> dict[str, float]:
    """:func:`mask_stats` of a mask written earlier."""
    mask = read_png_indices(mask_path)
    if mask is None:
        raise LabelError(f"{mask_path}: not a single-channel PNG mask")
    return mask_stats(mask)


def _comparable(labels: dict[str, Any], header: dict[str, Any]) -> dict[str, Any]:
    """The entries of ``header`` in a labels.json, files as real paths: the same teacher or boxes folder spelled
    another way (``boxes``, ``./boxes``, ``/abs/boxes``) is the same kind of labels, not a reason to replace them."""
    def real(path: Any) -> Any:
        return os.path.realpath(path) if isinstance(path, str) and path else path

    out = {k: labels.get(k) for k in header}
    out["boxes"] = real(out["boxes"])
    out["teachers"] = [{**t, "source": real(t.get("source"))} if isinstance(t, dict) else t
                       for t in out["teachers"] or []]
    return out


def write_labels(images: Sequence[str | Path], out: str | Path, teachers: Sequence[Teacher],
                 settings: LabelSettings | None = None, boxes: str | Path | None = None, existing: str = "refuse",
                 on_error: Callable[[str], None] | None = None, show_progress: bool = False) -> dict[str, Any]:
    """Label each image into ``out/masks/<id>.png`` (id: the file's stem) and describe the run in
    ``out/labels.json`` (teachers, settings, per image: ignore and person fractions, boxes and their teachers).

    ``boxes``: a folder of ``<id>.txt`` person boxes (see :func:`read_boxes`); without it boxes are found by the
    teachers. ``existing``: ``refuse`` (:class:`LabelsExistError` if ``out`` holds any of the masks or a labels.json),
    ``overwrite`` (relabel these images; when labels.json was made with other teachers, settings or boxes, all its
    masks are removed first so that ``out`` never mixes two kinds of labels, else the other masks stay listed), or
    ``skip`` (keep the masks already there, e.g. of an interrupted run with the same teachers and settings). A bad
    image or boxes file, or a second image with an id already seen, is reported through ``on_error`` (one line),
    skipped and counted as failed. labels.json is written at the end, also when the run is interrupted (then with
    ``"complete": false``). Returns its summary.
    """
    if existing not in EXISTING:
        raise ValueError(f"existing must be one of {', '.join(EXISTING)}, not {existing!r}")
    s = settings or LabelSettings()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LabelError(f"{out}: exists and is not a folder")
    box_dir = Path(boxes) if boxes is not None else None
    if box_dir is not None and not box_dir.is_dir():
        raise LabelError(f"{box_dir}: no such folder of boxes")
    report = on_error or (lambda msg: None)
    sources: dict[str, Path] = {}
    duplicates = 0  # not labelled: they count as failed
    for p in map(Path, images):
        if p.stem in sources:
            report(f"{p}: id {p.stem!r} is also {sources[p.stem]}; skipped")
            duplicates += 1
        else:
            sources[p.stem] = p
    masks = out / "masks"
    header = {"format": LABELS_FORMAT, "teachers": [t.describe() for t in teachers], "settings": s.as_dict(),
              "boxes": os.path.realpath(box_dir) if box_dir is not None else None}
    old = _labels_json(out)
    there = [i for i in sources if (masks / f"{i}.png").exists()]
    if existing == "refuse" and (there or old is not None):
        raise LabelsExistError(f"{out}: holds labels already ({len(there)} of these masks"
                          f"{', labels.json' if old is not None else ''})")
    other = old is not None and _comparable(old, header) != _comparable(header, header)
    if existing == "skip" and other:
        raise LabelError(f"{out / 'labels.json'}: made with other teachers, settings or boxes; "
                         "skipping its masks would mix two kinds of labels")
    per_image: dict[str, Any] = dict(old.get("images", {})) if existing == "skip" and old else {}
    failed, skipped = duplicates, 0
    if existing == "overwrite" and old is not None and not other:  # same kind of labels: the others stay valid
        per_image = {k: v for k, v in old.get("images", {}).items() if (masks / f"{k}.png").is_file()}
        skipped = len(per_image.keys() - sources.keys())
    elif existing == "overwrite" and other:  # a new kind of labels replaces the whole set, never mixes with it
        _write_labels_json(out, header, False, {}, {})  # first: a run stopped while clearing is incomplete
        _remove_masks(masks)
    progress = Progress(len(sources), "images", enabled=show_progress and len(sources) > 1)
    complete = False
    try:
        for i, src in sources.items():
            dst = masks / f"{i}.png"
            try:
                if existing == "skip" and dst.exists():
                    per_image[i] = per_image.get(i) or _stats_of(dst)
                    skipped += 1
                else:
                    image = read_image(src)
                    found = read_boxes(box_dir / f"{i}.txt", (image.shape[1], image.shape[0])) if box_dir else None
                    result = label_image(image, found, teachers, s)
                    write_image(dst, result.mask)
                    per_image[i] = result.stats()
            except (LabelError, ImageError, DatasetError) as e:
                failed += 1
                progress.clear()
                report(str(e))  # each of these names its file
            except (cv2.error, MemoryError, OSError) as e:
                failed += 1
                progress.clear()
                report(f"{src}: cannot label ({one_line(e)})")
            progress.update()
        complete = True
    finally:
        progress.close()
        done = list(per_image.values())
        summary = {"images": len(done), "skipped": skipped, "failed": failed,
                   "mean_ignore": round(float(np.mean([v["ignore"] for v in done])), 4) if done else None,
                   "mean_person": round(float(np.mean([v["person"] for v in done])), 4) if done else None}
        _write_labels_json(out, header, complete, summary, per_image)
    return summary


def _write_labels_json(out: Path, header: dict[str, Any], complete: bool, summary: dict[str, Any],
                       per_image: dict[str, Any]) -> None:
    """``out/labels.json``, atomically: the run's header, whether it finished, its summary, an image a line."""
    head = json.dumps(header | {"complete": complete, "summary": summary}, indent=1)[:-2]
    rows = ",\n".join(f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in sorted(per_image.items()))
    write_atomic(out / "labels.json", f'{head},\n "images": {{\n{rows}\n }}\n}}\n'.encode())


def _remove_masks(masks: Path) -> None:
    """Delete the ``*.png`` masks of an earlier label set in ``masks`` (--overwrite with other teachers or settings)."""
    for f in sorted(masks.glob("*.png")) if masks.is_dir() else ():
        try:
            f.unlink()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise LabelError(f"{f}: cannot remove the old mask ({getattr(e, 'strerror', None) or e})") from None
