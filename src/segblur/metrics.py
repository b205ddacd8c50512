"""Segmentation metrics from one confusion matrix, in numpy (no torch).

Used by training (validation) and by evaluation of ONNX models, so both report the same numbers.
Definitions follow Long et al. (FCN, 2015): with n_ij the pixels of class i predicted as j and
t_i = sum_j n_ij,
  pixel accuracy            = sum_i n_ii / sum_i t_i
  mean pixel accuracy       = mean_i  n_ii / t_i
  IoU_i                     = n_ii / (t_i + sum_j n_ji - n_ii)
  mean IoU                  = mean_i IoU_i
  frequency-weighted IoU    = sum_i t_i IoU_i / sum_i t_i
Classes absent from both ground truth and prediction are left out of the means (NaN per class).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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
        """All metrics as a JSON-ready dict (per-class values keyed by class name)."""
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
