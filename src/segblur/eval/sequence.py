"""Scoring a video against per-frame ground truth: accuracy on every frame and stability from frame to frame.

The frames are run in order through one stream (temporal state carried, as ``segblur video`` does), and each
output alpha is scored against its frame's true mask:

* **person IoU** and **boundary F1** per frame (a pixel is foreground when its alpha is >= 0.5);
* **temporal error**: the mean absolute difference between the frame-to-frame change of the predicted alpha and
  that of the true mask, ``mean |(a_t - a_t-1) - (g_t - g_t-1)|`` in 1/255 units (the dtSSD idea of the
  video-matting papers, with absolute instead of squared differences). Flicker and lag both raise it; a mask
  that moves exactly as the truth does scores 0, however much the truth itself moves;
* the **still-scene flicker** of the benchmark (:func:`alpha_changes`): a still frame with fresh sensor noise
  on every frame, how much the alpha changes and how many pixels flip across 0.5.

``region="subject"`` scores only the pixels of a box around the labelled subject (:mod:`.regions`), for
ground truth that labels one person among several (davis-dance-twirl labels the dancer, not the audience);
``"frame"`` scores every pixel. Numpy and OpenCV only (no torch).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DatasetError, read_png_indices
from ..media.images import READ_SUFFIXES, ImageError, read_image
from ..progress import Progress
from .metrics import BoundaryF1, binary_iou, boundary_tolerance
from .regions import SUBJECT_GROW, crop_to_subject, subject_region

REGIONS = ("subject", "frame")


class SequenceError(ValueError):
    """A sequence that cannot be scored (no frames, masks that do not match the frames); one line."""


def alpha_changes(alphas: Iterable[np.ndarray], settle: int = 0) -> dict[str, float]:
    """How much consecutive alphas differ: ``mean_abs_change`` (mean |a_t - a_t-1|, 1/255 units) and
    ``flipped_pct`` (percentage of pixels crossing 0.5), averaged over the pairs after the first ``settle`` frames.

    On a still scene every change is flicker: this is the benchmark's flicker figure.
    """
    prev: np.ndarray | None = None
    changes, flips = [], []
    for i, alpha in enumerate(alphas):
        a = np.array(alpha, np.float32)  # a copy: the pipeline reuses its alpha buffer
        if prev is not None and i >= settle:
            changes.append(float(np.abs(a - prev).mean()) * 255)
            flips.append(float(((a >= 0.5) != (prev >= 0.5)).mean()) * 100)
        prev = a
    if not changes:
        raise SequenceError(f"need at least {settle + 2} frames to measure change")
    return {"mean_abs_change": float(np.mean(changes)), "flipped_pct": float(np.mean(flips))}


@dataclass
class SequenceMetrics:
    """Accumulates the per-frame and frame-to-frame scores of one sequence; :meth:`update` frame by frame, in order.

    ``region``: ``"subject"`` (a box around the true mask, grown by ``grow``) or ``"frame"``. ``tolerance_px``:
    the boundary match distance (default 0.75 % of the frame's diagonal, the same on every frame).
    """

    region: str = "subject"
    grow: float = SUBJECT_GROW
    tolerance_px: float | None = None
    ious: list[float] = field(default_factory=list)
    temporal: list[float] = field(default_factory=list)  # per pair of consecutive frames, 1/255 units
    _prev: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # (alpha, truth, region) of the last frame
    _boundary: BoundaryF1 | None = None
    _shape: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.region not in REGIONS:
            raise ValueError(f"region must be one of {', '.join(REGIONS)}, got {self.region!r}")

    def update(self, alpha: np.ndarray, truth: np.ndarray) -> None:
        """Score one frame: ``alpha`` H x W in [0, 1] (float) and ``truth`` H x W, non-zero = the subject."""
        a = np.asarray(alpha, np.float32)
        t = np.asarray(truth) > 0
        if a.ndim != 2 or a.shape != t.shape:
            raise SequenceError(f"alpha {a.shape} and true mask {t.shape} differ in size")
        if self._shape is None:
            self._shape = a.shape
            tol = self.tolerance_px if self.tolerance_px is not None else boundary_tolerance(a.shape)
            self._boundary = BoundaryF1(2, None, tolerance_px=tol)
        elif a.shape != self._shape:
            raise SequenceError(f"frame size changed from {self._shape[1]}x{self._shape[0]} "
                                f"to {a.shape[1]}x{a.shape[0]}")
        pred = a >= 0.5
        if self.region == "subject":
            t_c, p_c = crop_to_subject(t, pred, grow=self.grow)
            region = subject_region(t, self.grow) if t.any() else np.ones(t.shape, bool)
        else:
            t_c, p_c, region = t, pred, np.ones(t.shape, bool)
        self.ious.append(binary_iou(t_c, p_c))
        self._boundary.update(t_c.astype(np.uint8), p_c.astype(np.uint8))
        if self._prev is not None:
            pa, pt, pr = self._prev
            both = region | pr  # the pixels scored in either frame
            d = (a - pa) - (t.astype(np.float32) - pt.astype(np.float32))
            self.temporal.append(float(np.abs(d[both]).mean()) * 255)
        self._prev = (a.copy(), t, region)

    def compute(self) -> dict[str, Any]:
        """The JSON-ready scores: frames, mean/min per-frame IoU, boundary F1, temporal error (1/255), per frame."""
        if not self.ious:
            raise SequenceError("no frames were scored")
        bf = self._boundary.compute(["background", "person"]) if self._boundary is not None else {}
        ious = np.array(self.ious)
        return {"frames": len(self.ious), "region": self.region,
                "iou": float(ious.mean()), "iou_min": float(ious.min()), "iou_std": float(ious.std()),
                "boundary_f1": bf.get("per_class_boundary_f1", {}).get("person"),
                "boundary_tolerance_px": self._boundary.tolerance_px if self._boundary is not None else None,
                "temporal_error": float(np.mean(self.temporal)) if self.temporal else None,
                "per_frame_iou": [round(v, 5) for v in self.ious],
                "per_frame_temporal_error": [round(v, 4) for v in self.temporal]}


def score_sequence(alphas: Iterable[np.ndarray], truths: Iterable[np.ndarray], region: str = "subject",
                   tolerance_px: float | None = None) -> dict[str, Any]:
    """Score predicted alphas against true masks, frame by frame in order (see :class:`SequenceMetrics`).

    The two sequences are paired in order; a different count is a :class:`SequenceError`.
    """
    metrics = SequenceMetrics(region, tolerance_px=tolerance_px)
    for n, (alpha, truth) in enumerate(zip_longest(alphas, truths)):
        if alpha is None or truth is None:
            raise SequenceError(f"{n} frames paired with true masks, then {'true masks' if alpha is None else 'frames'}"
                                " with nothing to pair with")
        metrics.update(alpha, truth)
    return metrics.compute()


# ---------------------------------------------------------------------------------------------- sequences on disk


def read_truth(path: Path) -> np.ndarray:
    """A true mask file -> H x W bool, non-zero = the subject (palette PNGs by index, not colour)."""
    try:
        values = read_png_indices(path) if path.suffix.lower() == ".png" else None
        if values is None:
            values = read_image(path)[..., 0]
    except (DatasetError, ImageError) as e:
        raise SequenceError(str(e)) from None
    return np.asarray(values) > 0


def _sorted_files(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    if not folder.is_dir():
        raise SequenceError(f"{folder}: no such folder")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes and not p.name.startswith("."))


@dataclass
class SequenceSource:
    """Frames in order with their true masks: a folder of ``images/`` + ``masks/`` (the same stems, in name order)
    or a video with a folder of masks (one per frame, in name order). Iterating gives (RGB frame, mask path)."""

    path: Path
    masks: list[Path]
    images: list[Path] | None = None  # None: decode the video at ``path``

    def __len__(self) -> int:
        return len(self.masks)

    def frame_name(self, i: int) -> str:
        """Frame ``i`` (0-based) as messages name it: its image file, or the video and the frame's number."""
        return str(self.images[i]) if self.images is not None else f"{self.path} frame {i + 1}"

    def __iter__(self) -> Iterator[tuple[np.ndarray, Path]]:
        if self.images is not None:
            for image, mask in zip(self.images, self.masks):
                try:
                    yield read_image(image), mask
                except ImageError as e:
                    raise SequenceError(str(e)) from None
            return
        from ..media.video import VideoError, VideoReader

        n = 0
        try:
            with VideoReader(self.path) as reader:
                for frame in (f for _, f in reader.items() if f is not None):
                    if n >= len(self.masks):
                        raise SequenceError(f"{self.path}: more frames than the {len(self.masks)} masks")
                    yield frame.rgb, self.masks[n]
                    n += 1  # noqa: SIM113 - counted only for frames that have a mask
        except VideoError as e:
            raise SequenceError(str(e)) from None
        if n < len(self.masks):
            raise SequenceError(f"{self.path}: {n} frames, but {len(self.masks)} masks")


def open_sequence(path: str | Path, masks: str | Path | None = None) -> SequenceSource:
    """A :class:`SequenceSource`: ``path`` a folder with ``images/`` and ``masks/``, or a video file with ``masks``."""
    p = Path(path)
    if p.is_dir():
        if masks is not None:
            raise SequenceError(f"{p}: a frame folder has its masks in masks/; --masks is for a video")
        images = _sorted_files(p / "images", READ_SUFFIXES)
        if not images:
            raise SequenceError(f"{p / 'images'}: no images ({', '.join(READ_SUFFIXES)})")
        found = {m.stem: m for m in _sorted_files(p / "masks", READ_SUFFIXES)}
        missing = [i for i in images if i.stem not in found]
        if missing:
            raise SequenceError(f"{p / 'masks' / (missing[0].stem + '.png')}: no mask for {missing[0].name}"
                                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return SequenceSource(p, [found[i.stem] for i in images], images)
    if not p.is_file():
        raise SequenceError(f"{p}: no such file or folder")
    if masks is None:
        raise SequenceError(f"{p}: a video needs a folder of true masks (one per frame, in name order)")
    files = _sorted_files(Path(masks), READ_SUFFIXES)
    if not files:
        raise SequenceError(f"{masks}: no mask images")
    return SequenceSource(p, files)


def pipeline_alphas(pipeline: Any, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    """The alpha of each frame, in order, as ``segblur video`` computes it: pushed through the pipeline (two-way
    smoothing when it looks ahead) from a fresh start. Each alpha is valid until the next one is taken."""
    pipeline.reset()
    for frame in frames:
        if pipeline.push(frame) is not None:
            yield pipeline.last_alpha
    for _ in pipeline.drain():
        yield pipeline.last_alpha


def still_flicker(pipeline: Any, frame: np.ndarray, frames: int = 60, sigma: float = 2.5, settle: int = 5,
                  seed: int = 0, show_progress: bool = False) -> dict[str, float]:
    """:func:`alpha_changes` of ``frame`` held still with fresh Gaussian noise of ``sigma`` grey levels on each of
    ``frames`` frames, through the pipeline as a file (:func:`pipeline_alphas`); the benchmark's flicker figure.
    ``show_progress``: a progress line of its own (a slow model takes a while on these frames too)."""
    from ..media.camera import noisy_frames

    noisy = noisy_frames(frame, sigma, min(frames, 16), seed)
    progress = Progress(frames, "still frames", enabled=show_progress)

    def counted(alphas: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        for alpha in alphas:
            yield alpha
            progress.update()

    try:
        return alpha_changes(counted(pipeline_alphas(pipeline, (noisy[i % len(noisy)] for i in range(frames)))),
                             settle)
    finally:
        progress.close()


def _check_sizes(alpha: np.ndarray, truth: np.ndarray, frame: str, mask: Path, first: tuple[int, ...]) -> None:
    """SequenceError naming the frame whose size differs from the first frame's, or the mask that differs from its
    frame: the file to look at, which :meth:`SequenceMetrics.update` does not know."""
    h, w = alpha.shape[:2]
    if (h, w) != tuple(first):
        raise SequenceError(f"{frame}: {w}x{h}, but the first frame is {first[1]}x{first[0]}; all frames must have one "
                            "size")
    if truth.shape != (h, w):
        raise SequenceError(f"{mask}: true mask {truth.shape[1]}x{truth.shape[0]} differs from its frame's size "
                            f"{w}x{h} ({frame})")


def evaluate_sequence(pipeline: Any, source: SequenceSource, region: str = "frame", *, flicker: bool = True,
                      tolerance_px: float | None = None, show_progress: bool = False) -> dict[str, Any]:
    """Run ``source``'s frames in order through ``pipeline`` (a :class:`~segblur.runtime.pipeline.Pipeline`, fed as
    ``segblur video`` feeds a file) and score each alpha against its true mask (:class:`SequenceMetrics`); with
    ``flicker`` also :func:`still_flicker` of the first frame. Returns the JSON-ready report."""
    metrics = SequenceMetrics(region, tolerance_px=tolerance_px)
    pending: deque[Path] = deque()  # masks of the frames pushed and not answered yet
    first: list[np.ndarray] = []
    progress = Progress(len(source), "frames", enabled=show_progress)

    def frames() -> Iterator[np.ndarray]:
        for rgb, mask in source:
            if not first:
                first.append(rgb)
            pending.append(mask)
            yield rgb

    try:
        for i, alpha in enumerate(pipeline_alphas(pipeline, frames())):
            mask = pending.popleft()
            truth = read_truth(mask)
            _check_sizes(alpha, truth, source.frame_name(i), mask, first[0].shape[:2])
            metrics.update(alpha, truth)
            progress.update()
    finally:
        progress.close()
    report = {"sequence": str(source.path), **metrics.compute()}
    if flicker and first:
        report["still_flicker"] = still_flicker(pipeline, first[0], show_progress=show_progress)
    return report


def _setting(value: Any) -> str:
    """One setting as words: on/off for a switch, else as given."""
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def format_sequence(report: dict[str, Any]) -> str:
    """The report as printed by ``segblur evaluate --sequence``."""
    lines = [f"{k}: {report[k]}" for k in ("model", "sequence") if report.get(k) is not None]
    if report.get("settings"):  # {"temporal": "lookahead 8", "follow": True} -> temporal lookahead 8, follow on
        lines.append("settings: " + ", ".join(f"{k} {_setting(v)}" for k, v in report["settings"].items()))
    region = "a box around the subject (the true mask grown by 10%)" if report["region"] == "subject" else \
        "whole frames"
    lines.append(f"{report['frames']} frames, scored on {region}")
    lines.append(f"person IoU per frame: mean {report['iou']:.4f}, min {report['iou_min']:.4f}, "
                 f"std {report['iou_std']:.4f}")
    bf = report.get("boundary_f1")
    lines.append(f"boundary F1: {'-' if bf is None else f'{bf:.4f}'} "
                 f"(tolerance {report['boundary_tolerance_px']:.1f} px)")
    te = report.get("temporal_error")
    lines.append("temporal error (mean |change of alpha - change of truth|, 1/255): "
                 + ("-" if te is None else f"{te:.3f}"))
    fl = report.get("still_flicker")
    if fl:
        lines.append(f"still-scene flicker (first frame, noise sigma 2.5): mean change "
                     f"{fl['mean_abs_change']:.3f}/255, {fl['flipped_pct']:.4f}% of pixels flip per frame")
    return "\n".join(lines)
