"""Teacher models for teacher labels, and the crop geometry that frames a region of a photo for them.

A :class:`Teacher` turns an RGB uint8 input at its own size into a person probability map at that size (and,
where the model has one, a presence score). Three kinds:

- ``pose``: MediaPipe ``pose_landmark_heavy.tflite`` (npm ``@mediapipe/pose@0.5.1675469404``): 256x256 RGB in
  [0, 1]; output ``Identity_2`` is a person-mask logit map, ``Identity_1`` the pose presence score. Framed as
  MediaPipe frames it: a square around the person, padded with black.
- ``selfie``: MediaPipe ``selfie_segmentation.tflite`` (``mediapipe==0.10.21`` wheel): 256x256 RGB in [0, 1], one
  probability output. Framed as MediaPipe does: the region stretched to the input.
- ``onnx``: any segblur ONNX model (built-in name or file) through the runtime :class:`Segmenter`; stretched,
  as the segblur model contract says.

No torch: labelling only runs teachers (TFLite through LiteRT, the ``bench`` extra, or ONNX Runtime).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..bench.litert import LiteRTError, TFLiteModel
from ..runtime.model import ModelError
from ..runtime.segmenter import Segmenter

FITS = ("square", "stretch")


class TeacherError(ValueError):
    """A teacher that cannot be opened or used: one line naming it."""


def _pose_extras(out: dict[str, np.ndarray], size: int) -> dict[str, float]:
    """Pose presence, how visible the legs are (least visible of knees and ankles, landmarks 25-28) and how
    upright the person stands (hips below shoulders, landmarks 23-24 and 11-12, as a fraction of the input).

    ``Identity`` holds 39 landmarks x (x, y in input pixels, z, visibility logit, presence logit);
    ``Identity_1`` the presence.
    """
    lm = np.asarray(out["Identity"], np.float32).reshape(-1, 5)
    upright = (lm[23:25, 1].mean() - lm[11:13, 1].mean()) / size
    return {"presence": float(np.ravel(out["Identity_1"])[0]), "legs": float(_sigmoid(lm[25:29, 3]).min()),
            "upright": float(upright)}


@dataclass(frozen=True)
class TFLiteKind:
    """How a known TFLite teacher is run: its mask output (None: the first), logits or not, its framing, and the
    other outputs it reads with the function that turns them into named scores."""

    mask: str | None
    logits: bool
    fit: str
    extra_outputs: tuple[str, ...] = ()
    extras: Callable[[dict[str, np.ndarray], int], dict[str, float]] | None = None  # (outputs, input height)


TFLITE_KINDS = {
    "pose": TFLiteKind(mask="Identity_2", logits=True, fit="square", extra_outputs=("Identity", "Identity_1"),
                       extras=_pose_extras),
    "selfie": TFLiteKind(mask=None, logits=False, fit="stretch"),
}
KINDS = (*TFLITE_KINDS, "onnx")
Extras = dict[str, float]


@dataclass
class Teacher:
    """A person-probability model and how it wants its input framed (``fit``: square letterbox or stretch)."""

    name: str
    kind: str
    fit: str
    input_size: tuple[int, int]  # (width, height)
    run: Callable[[np.ndarray], tuple[np.ndarray, Extras]]  # RGB uint8 at input_size -> (probability, scores)
    source: str = ""

    def describe(self) -> dict[str, Any]:
        """What labels.json records about the teacher."""
        return {"name": self.name, "kind": self.kind, "fit": self.fit, "input": list(self.input_size),
                "source": self.source}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))).astype(np.float32)


def tflite_teacher(path: str | os.PathLike[str], kind: str, threads: int | None = None,
                   interpreter: Any = None, name: str | None = None) -> Teacher:
    """A ``pose`` or ``selfie`` teacher from a .tflite file (``interpreter``: an injected LiteRT-like object)."""
    if kind not in TFLITE_KINDS:
        raise TeacherError(f"{path}: unknown TFLite teacher kind {kind!r} (known: {', '.join(TFLITE_KINDS)})")
    spec = TFLITE_KINDS[kind]
    try:
        model = TFLiteModel(path, threads, interpreter)
        names = (model.output(spec.mask) if spec.mask else model.first_output,)
        names += tuple(model.output(n) for n in spec.extra_outputs)
    except LiteRTError as e:
        raise TeacherError(f"{path}: {e}") from None

    def run(x: np.ndarray) -> tuple[np.ndarray, Extras]:
        out = model.run(x.astype(np.float32) * np.float32(1.0 / 255.0), names)
        m = out[names[0]]
        m = m[..., 0] if m.ndim == 3 else m
        prob = _sigmoid(m) if spec.logits else np.clip(m, 0.0, 1.0).astype(np.float32)
        return prob, spec.extras(out, model.input_height) if spec.extras else {}

    return Teacher(name or kind, kind, spec.fit, (model.input_width, model.input_height), run, str(path))


def onnx_teacher(model: str | os.PathLike[str], threads: int | None = None, name: str | None = None) -> Teacher:
    """Any segblur ONNX model (its foreground classes are "person") as a teacher: regions stretched to its input,
    or for a ``resize: keep`` model framed in a padded square."""
    try:
        seg = Segmenter(model, threads=threads)
    except ModelError as e:
        raise TeacherError(str(e)) from None
    h, w = seg.info.input_size
    # A model that keeps the aspect ratio gets each region framed in a padded square, never stretched.
    fit = "square" if seg.info.resize == "keep" else "stretch"
    return Teacher(name or seg.info.name, "onnx", fit, (w, h), lambda x: (seg.predict_lowres(x), {}),
                   str(seg.model.path))


def guess_kind(model: str) -> str:
    """The teacher kind a model name or file suggests: pose_landmark*.tflite -> pose, other .tflite -> selfie."""
    p = Path(model)
    if p.suffix.lower() == ".tflite":
        return "pose" if p.name.startswith("pose_landmark") else "selfie"
    return "onnx"


def split_spec(spec: str) -> tuple[str | None, str]:
    """A teacher spec ``KIND=MODEL`` or ``MODEL`` -> (kind, model); the kind is None when not given."""
    kind, sep, model = spec.partition("=")
    return (kind, model) if sep else (None, spec)


def open_teacher(spec: str, threads: int | None = None) -> Teacher:
    """``KIND=MODEL`` (kind: pose, selfie or onnx) or just ``MODEL`` (kind guessed from the name) -> a Teacher."""
    kind, model = split_spec(spec)
    kind = (guess_kind(model) if kind is None else kind).strip().lower()
    if kind not in KINDS or not model:
        raise TeacherError(f"teacher {spec!r}: expected KIND=MODEL with KIND one of {', '.join(KINDS)}, or a model")
    if kind == "onnx":
        return onnx_teacher(model, threads)
    return tflite_teacher(model, kind, threads)


def standing(extras: Extras) -> float:
    """How surely the pose teacher sees a person standing up in its input: presence x uprightness."""
    return extras.get("presence", 0.0) * max(extras.get("upright", 0.0), 0.0)


def pick_rotation(scores: dict[int, float], minimum: float, margin: float) -> int:
    """The rotation with the best :func:`standing` score if it is at least ``minimum`` and ``margin`` times the
    unturned score, else 0.

    On Vikram train photos the best score is the upright orientation for 36 of 42 photos turned by 90 or 270
    degrees, and also for 36 of 42 upright photos, so a turn needs a clear win. On people-hd train the 35
    photos its README lists as turned score 0.209..0.267 turned upright, while upright photos of crowds
    (wide group boxes) reached 0.237 turned: minimum 0.2 and margin 1.3 turn all 35 and 4 of 1230
    others (1.5 and no minimum: 31 and 21). On turned Vikram train photos kept IoU 0.853 unturned, 0.904 so."""
    best = max(scores, key=lambda r: scores[r])
    return best if scores[best] >= minimum and scores[best] > margin * scores.get(0, 0.0) else 0


# ------------------------------------------------------------------------------------------- crop geometry


def region_transform(region: tuple[float, float, float, float], fit: str, input_size: tuple[int, int],
                     rotation: int = 0, clip_to: tuple[int, int] | None = None) -> np.ndarray:
    """2x3 affine from image pixels to the teacher's input pixels for ``region`` = (x0, y0, x1, y1).

    ``square`` keeps the aspect ratio: a square of the region's long side, centred on it (whatever falls outside
    the image is padded). ``stretch`` maps the region onto the whole input, first clipped to ``clip_to`` =
    (width, height) when given. ``rotation`` (0, 90, 180, 270, degrees clockwise) turns the region before it is
    framed, so a person lying sideways stands up. Pixel centres are at integer + 0.5 on both sides.
    """
    x0, y0, x1, y1 = region
    if fit == "stretch" and clip_to is not None:
        x0, y0, x1, y1 = max(x0, 0.0), max(y0, 0.0), min(x1, float(clip_to[0])), min(y1, float(clip_to[1]))
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    if rotation % 180:
        w, h = h, w
    if fit == "square":
        w = h = max(w, h)
    iw, ih = input_size
    t = math.radians(rotation)  # clockwise on screen (y points down)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    a = np.diag([iw / w, ih / h]) @ rot
    b = a @ np.array([0.5 - cx, 0.5 - cy]) + np.array([iw / 2 - 0.5, ih / 2 - 0.5])
    return np.hstack([a, b[:, None]]).astype(np.float64)


def crop_region(box: Sequence[float], margin: float) -> tuple[float, float, float, float]:
    """The box grown by ``margin`` x its long side on every side."""
    x0, y0, x1, y1 = (float(v) for v in box)
    g = margin * max(x1 - x0, y1 - y0)
    return x0 - g, y0 - g, x1 + g, y1 + g


def turn_boxes(boxes: np.ndarray, size: tuple[int, int], rotation: int) -> np.ndarray:
    """Boxes of an image of ``size`` = (W, H) -> the same boxes once the image is turned clockwise by
    ``rotation`` (0, 90, 180 or 270 degrees)."""
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    w, h = size
    for _ in range((rotation // 90) % 4):
        b = np.stack([h - b[:, 3], b[:, 0], h - b[:, 1], b[:, 2]], 1)
        w, h = h, w
    return b


@dataclass
class RegionResult:
    """One teacher's output on one region, pasted back into image pixels: a window at (x0, y0) of the image."""

    teacher: str
    rotation: int
    x0: int
    y0: int
    prob: np.ndarray  # window h x w float32 person probability
    covered: np.ndarray  # window h x w bool: pixels the region covers
    extras: Extras

    def full(self, shape: tuple[int, int], fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(probability, coverage) at the image's size ``shape`` = (H, W); ``fill`` where not covered."""
        prob = np.full(shape, fill, np.float32)
        cov = np.zeros(shape, bool)
        h, w = self.prob.shape
        prob[self.y0:self.y0 + h, self.x0:self.x0 + w] = np.where(self.covered, self.prob, fill)
        cov[self.y0:self.y0 + h, self.x0:self.x0 + w] = self.covered
        return prob, cov


def run_region(teacher: Teacher, image: np.ndarray, region: tuple[float, float, float, float],
               rotation: int = 0) -> RegionResult:
    """Run ``teacher`` on a region (x0, y0, x1, y1) of an RGB image, framed by the teacher's fit, and map its
    probability back onto the image pixels the region covers (bilinear both ways)."""
    h, w = image.shape[:2]
    m = region_transform(region, teacher.fit, teacher.input_size, rotation, clip_to=(w, h))
    iw, ih = teacher.input_size
    x = cv2.warpAffine(image, m, (iw, ih), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                       borderValue=(0, 0, 0))
    prob, extras = teacher.run(x)
    if prob.shape != (ih, iw):
        prob = cv2.resize(prob, (iw, ih), interpolation=cv2.INTER_LINEAR)
    # The window of image pixels the teacher's input covers, and the transform from that window.
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[-0.5, -0.5, 1], [iw - 0.5, -0.5, 1], [-0.5, ih - 0.5, 1], [iw - 0.5, ih - 0.5, 1]]) @ inv.T
    x0, y0 = (max(0, int(math.floor(v))) for v in corners.min(0))
    x1, y1 = min(w, int(math.ceil(corners[:, 0].max())) + 1), min(h, int(math.ceil(corners[:, 1].max())) + 1)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    mw = m.copy()
    mw[:, 2] += m[:, :2] @ np.array([x0, y0], np.float64)
    back = cv2.WARP_INVERSE_MAP | cv2.INTER_LINEAR
    size = (x1 - x0, y1 - y0)
    # Replicate: an image pixel half a teacher pixel outside the input's pixel centres takes the edge value.
    prob_w = cv2.warpAffine(prob, mw, size, flags=back, borderMode=cv2.BORDER_REPLICATE)
    # Covered: the pixel's centre falls inside the input's area (pixel centres at integers, edges at -0.5).
    ys, xs = np.mgrid[0:size[1], 0:size[0]].astype(np.float32)
    u, v = (mw[i, 0] * xs + mw[i, 1] * ys + mw[i, 2] for i in (0, 1))
    cov_w = (u >= -0.5) & (u <= iw - 0.5) & (v >= -0.5) & (v <= ih - 0.5)
    return RegionResult(teacher.name, rotation, x0, y0, prob_w, cov_w, extras)


DEFAULT_FOLDER = Path(".cache/teachers")  # where benchmarks/fetch_teachers.py puts them
DEFAULT_SPECS = ("pose=pose_landmark_heavy.tflite", "selfie=selfie_segmentation.tflite")


def default_teachers(folder: str | os.PathLike[str] = DEFAULT_FOLDER, threads: int | None = None) -> list[Teacher]:
    """MediaPipe pose-heavy and selfie from ``folder`` (relative: to the working folder); TeacherError naming the
    absolute path looked in, and how to fetch them or name others, when missing."""
    specs = []
    for spec in DEFAULT_SPECS:
        kind, _, name = spec.partition("=")
        path = Path(folder) / name
        if not path.is_file():  # the absolute path: the default folder is relative to the working folder
            raise TeacherError(f"{os.path.abspath(path)}: no such teacher; fetch the teachers there with python "
                               "benchmarks/fetch_teachers.py, or name them with --teacher pose=FILE --teacher "
                               "selfie=FILE")
        specs.append(f"{kind}={path}")
    return [open_teacher(s, threads) for s in specs]
