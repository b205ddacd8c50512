"""Scoring inside a region around the subject, for ground truth that labels one person among several.

davis-dance-twirl's masks hold the dancer only: the spectators behind her are unlabelled, so a person model
that finds them would lose IoU for being right. Scores there count only the pixels of the ground-truth mask's
bounding box grown by 10% of its size (:data:`SUBJECT_GROW`); the rest of the frame is left out. Used by the
evaluation code and the benchmarks (numpy only, no torch).
"""

from __future__ import annotations

import numpy as np

SUBJECT_GROW = 0.1  # the region is (1 + SUBJECT_GROW) x the subject's bounding box, centred on it


def subject_box(truth: np.ndarray, grow: float = SUBJECT_GROW) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1), end exclusive, of the foreground (non-zero) of ``truth`` grown by ``grow`` x its width and
    height (half on each side), clipped to the image; None when ``truth`` has no foreground."""
    t = np.asarray(truth)
    rows, cols = np.flatnonzero(t.any(1)), np.flatnonzero(t.any(0))
    if rows.size == 0:
        return None
    x0, x1, y0, y1 = cols[0], cols[-1] + 1, rows[0], rows[-1] + 1
    gx, gy = grow * (x1 - x0) / 2, grow * (y1 - y0) / 2
    h, w = t.shape[:2]
    return (max(0, int(np.floor(x0 - gx))), max(0, int(np.floor(y0 - gy))),
            min(w, int(np.ceil(x1 + gx))), min(h, int(np.ceil(y1 + gy))))


def subject_region(truth: np.ndarray, grow: float = SUBJECT_GROW) -> np.ndarray:
    """Boolean mask of :func:`subject_box` (all False when ``truth`` has no foreground)."""
    t = np.asarray(truth)
    region = np.zeros(t.shape[:2], bool)
    box = subject_box(t, grow)
    if box is not None:
        x0, y0, x1, y1 = box
        region[y0:y1, x0:x1] = True
    return region


def crop_to_subject(truth: np.ndarray, *others: np.ndarray,
                    grow: float = SUBJECT_GROW) -> tuple[np.ndarray, ...]:
    """``truth`` and each of ``others`` (same height and width) cut to :func:`subject_box`; unchanged when the
    truth has no foreground (an empty frame is scored whole)."""
    t = np.asarray(truth)
    for o in others:
        if np.asarray(o).shape[:2] != t.shape[:2]:
            raise ValueError(f"shape {np.asarray(o).shape[:2]} differs from the ground truth's {t.shape[:2]}")
    box = subject_box(t, grow)
    if box is None:
        return (t, *others)
    x0, y0, x1, y1 = box
    return tuple(np.asarray(a)[y0:y1, x0:x1] for a in (t, *others))
