"""Masks as files hold them: 8-bit, at the image's size, 255 = the kept classes and 0 = the rest (``segblur mask``).

A hard mask cuts the pipeline's refined alpha at 0.5, so ``threshold``, ``softness``, ``grow`` and ``feather``
move its edge as they move the blur's. A soft mask is the refined probability itself scaled to 0..255: the
pipeline is made with :data:`SOFT_EDGE` (a ramp as wide as the whole 0..1 range, centred on 0.5, is the identity),
so an edge setting has no meaning for it.
"""

from __future__ import annotations

import numpy as np

SOFT_EDGE = {"threshold": 0.5, "softness": 1.0}
HARD_EDGE = {"threshold": 0.5, "softness": 0.5}  # the pipeline's own defaults


def mask_edge(soft: bool, threshold: float | None = None, softness: float | None = None) -> dict[str, float]:
    """The pipeline ``threshold`` and ``softness`` a mask is made with: the given ones (or the defaults) for a hard
    mask, :data:`SOFT_EDGE` for a soft one; ValueError when an edge setting is given with ``soft``."""
    if soft:
        if threshold is not None or softness is not None:
            raise ValueError("a soft mask is the probability itself; threshold and softness do not apply to it")
        return dict(SOFT_EDGE)
    return {"threshold": HARD_EDGE["threshold"] if threshold is None else threshold,
            "softness": HARD_EDGE["softness"] if softness is None else softness}


def mask_8bit(alpha: np.ndarray, soft: bool = False) -> np.ndarray:
    """Refined alpha (H x W float in [0, 1], e.g. ``Pipeline.mask``) -> H x W uint8: 0/255 cut at 0.5, or with
    ``soft`` the alpha x 255, rounded."""
    m = alpha * 255 if soft else (alpha >= 0.5) * 255.0
    return np.asarray(m).round().astype(np.uint8)
