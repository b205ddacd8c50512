"""Segmentation metrics in numpy + OpenCV (no torch): confusion-matrix scores and the boundary F-measure.

Used by training (validation) and by ``segblur evaluate`` on ONNX models and checkpoints, so both
report the same numbers. Confusion-matrix definitions follow Long et al. (FCN, 2015): with n_ij the
pixels of class i predicted as j, t_i = sum_j n_ij (truth) and p_j = sum_i n_ij (prediction),
  pixel accuracy            = sum_i n_ii / sum_i t_i
  mean pixel accuracy       = mean over classes with t_i > 0 of n_ii / t_i   (per-class recall)
  IoU_i                     = n_ii / (t_i + p_i - n_ii)
  mean IoU                  = mean_i IoU_i over classes with t_i + p_i > 0
  frequency-weighted IoU    = sum_i t_i IoU_i / sum_i t_i
IoU is undefined (NaN, ``None`` in JSON) for a class absent from both truth and prediction and is left
out of the mean; a class predicted but never true has IoU 0. Pixels whose truth is ``ignore_index``
count nowhere.

Boundary F1 (Csurka et al., BMVC 2013, "What is a good evaluation measure for semantic
segmentation?"; the DAVIS boundary F-measure): see :class:`BoundaryF1`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

# Boundary match tolerance: 0.75% of the image diagonal (Csurka et al.), at least 1 pixel.
BOUNDARY_TOLERANCE = 0.0075
MIN_TOLERANCE_PX = 1.0


class ConfusionMatrix:
    """Accumulates an ``num_classes x num_classes`` confusion matrix (rows: truth, cols: prediction)."""

    def __init__(self, num_classes: int, ignore_index: int | None = 255) -> None:
        if num_classes < 1:
            raise ValueError("num_classes must be at least 1")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.mat = np.zeros((num_classes, num_classes), dtype=np.int64)

    def update(self, target: np.ndarray, prediction: np.ndarray) -> None:
        """Add one (or a batch of) label map(s); pixels equal to ``ignore_index`` are skipped."""
        target = np.asarray(target).ravel().astype(np.int64)
        prediction = np.asarray(prediction).ravel().astype(np.int64)
        if target.shape != prediction.shape:
            raise ValueError(f"target and prediction differ in size: {target.size} vs {prediction.size}")
        keep = target != self.ignore_index if self.ignore_index is not None else np.ones(target.shape, bool)
        if np.any((target[keep] < 0) | (target[keep] >= self.num_classes)):
            t = target[keep]
            bad = np.unique(t[(t < 0) | (t >= self.num_classes)])[:5]
            raise ValueError(f"target holds class values {bad.tolist()} outside [0, {self.num_classes}) "
                             f"(ignore index: {self.ignore_index})")
        if np.any((prediction[keep] < 0) | (prediction[keep] >= self.num_classes)):
            raise ValueError("prediction holds class indices outside [0, num_classes)")
        idx = target[keep] * self.num_classes + prediction[keep]
        self.mat += np.bincount(idx, minlength=self.num_classes**2).reshape(self.num_classes, self.num_classes)

    def reset(self) -> None:
        """Zero the matrix."""
        self.mat[:] = 0

    def compute(self, class_names: Sequence[str] | None = None) -> dict:
        """All metrics as a dict (per-class values keyed by class name; undefined per-class values are None).

        The summary values are floats and NaN when undefined (no pixels at all).
        """
        m = self.mat.astype(np.float64)
        tp = np.diag(m)
        gt = m.sum(1)
        pred = m.sum(0)
        union = gt + pred - tp
        total = m.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            acc_c = np.where(gt > 0, tp / gt, np.nan)
            iou_c = np.where(union > 0, tp / union, np.nan)
        names = list(class_names) if class_names is not None else [str(i) for i in range(self.num_classes)]
        present = gt > 0
        out = {
            "pixel_accuracy": float(tp.sum() / total) if total else float("nan"),
            "mean_pixel_accuracy": float(np.nanmean(acc_c)) if present.any() else float("nan"),
            "mean_iou": float(np.nanmean(iou_c)) if np.isfinite(iou_c).any() else float("nan"),
            "frequency_weighted_iou": float(np.nansum(gt * np.nan_to_num(iou_c)) / total) if total else float("nan"),
            "per_class_iou": {n: _f(v) for n, v in zip(names, iou_c)},
            "per_class_accuracy": {n: _f(v) for n, v in zip(names, acc_c)},
            "pixels": int(total),
        }
        return out


def _f(v: float) -> float | None:
    return None if not np.isfinite(v) else float(v)


def binary_iou(target: np.ndarray, prediction: np.ndarray) -> float:
    """IoU of the positive class for two boolean masks (1.0 when both are empty)."""
    t = np.asarray(target, bool)
    p = np.asarray(prediction, bool)
    union = np.logical_or(t, p).sum()
    return 1.0 if union == 0 else float(np.logical_and(t, p).sum() / union)


_CROSS = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))


def class_boundary(labels: np.ndarray, cls: int) -> np.ndarray:
    """Boolean map of the pixels of class ``cls`` with a 4-neighbour of another value (the image edge is none)."""
    m = (np.asarray(labels) == cls).astype(np.uint8)
    # The default border value of erode is "+inf", so pixels on the image edge are not eroded away by it.
    return m > cv2.erode(m, _CROSS)


def _distance_to(boundary: np.ndarray) -> np.ndarray:
    """Euclidean distance of every pixel to the nearest ``True`` pixel of ``boundary`` (float32)."""
    return cv2.distanceTransform(np.where(boundary, 0, 255).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def boundary_tolerance(shape: tuple[int, ...], tolerance: float = BOUNDARY_TOLERANCE,
                       tolerance_px: float | None = None) -> float:
    """Match distance in pixels: ``tolerance_px`` if given, else ``tolerance`` x the image diagonal (>= 1 px)."""
    if tolerance_px is not None:
        return float(tolerance_px)
    return max(MIN_TOLERANCE_PX, tolerance * math.hypot(shape[0], shape[1]))


class BoundaryF1:
    """Per-class boundary precision, recall and F1, accumulated over images.

    The boundary of class c in a label map is its pixels with a 4-neighbour of another label. A
    predicted boundary pixel is correct when a true boundary pixel of the same class lies within the
    tolerance (Euclidean distance, default 0.75% of the image diagonal and at least 1 px; or
    ``tolerance_px``), and a true one is found when a predicted one does. Counts are summed over
    all images, then precision = matched predicted / predicted, recall = matched true / true and
    F1 = 2PR / (P + R); F1 is undefined (None) for a class with no boundary pixels in either.
    Ground-truth ``ignore_index`` pixels (e.g. VOC's band along object edges) are "another label" for
    the true boundary; predicted boundary pixels that fall on them are not counted in the precision
    but can still find a true boundary pixel (the real edge lies somewhere in the band).
    """

    def __init__(self, num_classes: int, ignore_index: int | None = 255, tolerance: float = BOUNDARY_TOLERANCE,
                 tolerance_px: float | None = None) -> None:
        if num_classes < 1:
            raise ValueError("num_classes must be at least 1")
        if tolerance < 0 or (tolerance_px is not None and tolerance_px < 0):
            raise ValueError("the boundary tolerance must not be negative")
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.tolerance = tolerance
        self.tolerance_px = tolerance_px
        # Rows: predicted boundary pixels, matched ones, true boundary pixels, matched ones (per class).
        self.counts = np.zeros((4, num_classes), np.int64)

    def update(self, target: np.ndarray, prediction: np.ndarray) -> None:
        """Add one image: two HxW label maps of the same size."""
        t = np.asarray(target)
        p = np.asarray(prediction)
        if t.ndim != 2 or t.shape != p.shape:
            raise ValueError(f"boundary F1 needs two HxW label maps of the same size, got {t.shape} and {p.shape}")
        t = t.astype(np.int32, copy=False)
        p = p.astype(np.int32, copy=False)
        valid = t != self.ignore_index if self.ignore_index is not None else np.ones(t.shape, bool)
        d = boundary_tolerance(t.shape, self.tolerance, self.tolerance_px) + 1e-4
        n = self.num_classes
        seen = np.bincount(np.clip(t[valid], 0, n), minlength=n + 1)[:n] + np.bincount(
            np.clip(p[valid], 0, n), minlength=n + 1)[:n]
        for c in np.flatnonzero(seen):
            gb = class_boundary(t, c)
            pb_all = class_boundary(p, c)
            pb = pb_all & valid
            n_gb, n_pb = int(gb.sum()), int(pb.sum())
            matched_p = int((_distance_to(gb)[pb] <= d).sum()) if n_gb and n_pb else 0
            matched_g = int((_distance_to(pb_all)[gb] <= d).sum()) if n_gb and pb_all.any() else 0
            self.counts[:, c] += (n_pb, matched_p, n_gb, matched_g)

    def reset(self) -> None:
        """Zero the counts."""
        self.counts[:] = 0

    def compute(self, class_names: Sequence[str] | None = None) -> dict:
        """Per-class precision / recall / F1 (None where undefined) and their mean F1 over defined classes."""
        names = list(class_names) if class_names is not None else [str(i) for i in range(self.num_classes)]
        pred, pred_ok, true, true_ok = self.counts
        precision = [pm / pt if pt else None for pm, pt in zip(pred_ok, pred)]
        recall = [gm / gt if gt else None for gm, gt in zip(true_ok, true)]
        f1: list[float | None] = []
        for pr, rc, pt, gt in zip(precision, recall, pred, true):
            if not pt and not gt:
                f1.append(None)
            elif pr and rc:
                f1.append(2 * pr * rc / (pr + rc))
            else:  # a boundary on one side only, or nothing matched
                f1.append(0.0)
        defined = [v for v in f1 if v is not None]
        return {
            "mean_boundary_f1": float(np.mean(defined)) if defined else None,
            "per_class_boundary_precision": {k: _opt(v) for k, v in zip(names, precision)},
            "per_class_boundary_recall": {k: _opt(v) for k, v in zip(names, recall)},
            "per_class_boundary_f1": {k: _opt(v) for k, v in zip(names, f1)},
        }

    def describe_tolerance(self) -> str:
        """The tolerance rule in words, for reports."""
        if self.tolerance_px is not None:
            return f"{self.tolerance_px:g} px"
        return f"{100 * self.tolerance:g}% of the image diagonal, at least {MIN_TOLERANCE_PX:g} px"


def _opt(v: Any) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


class SegmentationMetrics:
    """Confusion-matrix metrics plus boundary F1 over a set of images, as one JSON-ready report."""

    def __init__(self, classes: Sequence[str], ignore_index: int | None = 255, boundary: bool = True,
                 tolerance: float = BOUNDARY_TOLERANCE, tolerance_px: float | None = None) -> None:
        self.classes = list(classes)
        self.confusion = ConfusionMatrix(len(self.classes), ignore_index)
        self.boundary = BoundaryF1(len(self.classes), ignore_index, tolerance, tolerance_px) if boundary else None
        self.images = 0

    def update(self, target: np.ndarray, prediction: np.ndarray) -> None:
        """Add one image (HxW truth with ``ignore_index`` where unlabeled, HxW predicted class ids)."""
        t, p = np.asarray(target), np.asarray(prediction)
        if t.shape != p.shape:
            raise ValueError(f"prediction size {p.shape} differs from the ground truth's {t.shape}")
        self.confusion.update(t, p)  # validates the values before anything else is counted
        if self.boundary is not None:
            self.boundary.update(t, p)
        self.images += 1

    def compute(self) -> dict[str, Any]:
        """The report: summary scores, then ``per_class`` {name: {iou, accuracy, boundary_*, pixels}}."""
        cm = self.confusion.compute(self.classes)
        truth = self.confusion.mat.sum(1)
        predicted = self.confusion.mat.sum(0)
        bf = self.boundary.compute(self.classes) if self.boundary is not None else None
        per_class: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(self.classes):
            row: dict[str, Any] = {"iou": cm["per_class_iou"][name], "accuracy": cm["per_class_accuracy"][name]}
            if bf is not None:
                row.update(boundary_precision=bf["per_class_boundary_precision"][name],
                           boundary_recall=bf["per_class_boundary_recall"][name],
                           boundary_f1=bf["per_class_boundary_f1"][name])
            row.update(pixels=int(truth[i]), predicted_pixels=int(predicted[i]))
            per_class[name] = row
        report: dict[str, Any] = {
            "images": self.images, "pixels": cm["pixels"],
            "pixel_accuracy": _opt(cm["pixel_accuracy"]), "mean_pixel_accuracy": _opt(cm["mean_pixel_accuracy"]),
            "mean_iou": _opt(cm["mean_iou"]), "frequency_weighted_iou": _opt(cm["frequency_weighted_iou"]),
        }
        if bf is not None and self.boundary is not None:
            report["mean_boundary_f1"] = bf["mean_boundary_f1"]
            report["boundary_tolerance"] = self.boundary.describe_tolerance()
        report["classes"] = list(self.classes)
        report["per_class"] = per_class
        return report


def _cell(v: Any, width: int) -> str:
    return f"{'-':>{width}}" if v is None else f"{v:>{width}.4f}" if isinstance(v, float) else f"{v:>{width}}"


def format_table(report: dict[str, Any]) -> str:
    """A readable per-class table and summary lines for a :meth:`SegmentationMetrics.compute` report."""
    lines = []
    for key in ("model", "data", "split"):
        if report.get(key) is not None:
            lines.append(f"{key}: {report[key]}")
    if report.get("class_note"):
        lines.append(str(report["class_note"]))
    per_class = report.get("per_class", {})
    has_bf = "mean_boundary_f1" in report
    cols = [("IoU", "iou"), ("acc", "accuracy")]
    if has_bf:
        cols += [("BF1", "boundary_f1"), ("BF-P", "boundary_precision"), ("BF-R", "boundary_recall")]
    name_w = max([len("class"), *(len(n) for n in per_class)])
    pix_w = max([len("pixels"), *(len(str(r.get("pixels", ""))) for r in per_class.values())])
    lines.append(f"{'class':<{name_w}}" + "".join(f"{h:>8}" for h, _ in cols) + f"  {'pixels':>{pix_w}}")
    for name, row in per_class.items():
        lines.append(f"{name:<{name_w}}" + "".join(_cell(row.get(k), 8) for _, k in cols)
                     + f"  {row.get('pixels', ''):>{pix_w}}")

    def num(key: str) -> str:
        v = report.get(key)
        return "-" if v is None else f"{v:.4f}"

    images = f"{report.get('images', 0)} images" + (f", {report['failed']} failed" if report.get("failed") else "")
    lines.append(f"{images}; mean IoU {num('mean_iou')}, pixel accuracy {num('pixel_accuracy')}, "
                 f"mean accuracy {num('mean_pixel_accuracy')}, frequency-weighted IoU {num('frequency_weighted_iou')}")
    if has_bf:
        lines.append(f"mean boundary F1 {num('mean_boundary_f1')} (tolerance {report.get('boundary_tolerance')})")
    return "\n".join(lines)
