"""runtime/masks.py: the edge a mask is made with, and alpha -> the 8-bit mask a file holds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import split_image

from segblur import Pipeline
from segblur.runtime.masks import HARD_EDGE, SOFT_EDGE, mask_8bit, mask_edge


def test_mask_edge_hard_takes_the_given_edge_or_the_defaults() -> None:
    assert mask_edge(False) == HARD_EDGE == {"threshold": 0.5, "softness": 0.5}
    assert mask_edge(False, 0.3, 0.0) == {"threshold": 0.3, "softness": 0.0}
    assert mask_edge(False, softness=0.2) == {"threshold": 0.5, "softness": 0.2}


def test_mask_edge_soft_is_the_probability_and_refuses_an_edge() -> None:
    assert mask_edge(True) == SOFT_EDGE == {"threshold": 0.5, "softness": 1.0}
    for edge in ({"threshold": 0.2}, {"softness": 0.1}):
        with pytest.raises(ValueError, match="soft"):
            mask_edge(True, **edge)


def test_mask_8bit_cuts_at_half_or_scales() -> None:
    alpha = np.array([[0.0, 0.499, 0.5, 1.0]], np.float32)
    hard = mask_8bit(alpha)
    assert hard.dtype == np.uint8 and hard.tolist() == [[0, 0, 255, 255]]
    assert mask_8bit(alpha, soft=True).tolist() == [[0, 127, 128, 255]]


def test_soft_edge_makes_the_mask_the_refined_probability(model_path: Path) -> None:
    img = split_image(24, 32)
    plain = Pipeline(model_path, guided=False, **SOFT_EDGE)
    prob = plain.segmenter.predict(img)
    assert np.abs(plain.mask(img) - prob).max() < 1e-5
