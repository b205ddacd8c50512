"""Pipeline.view: the mask view (the live preview's m key) is rendered by the pipeline itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import split_image

from segblur import Pipeline


def test_mask_view_returns_the_alpha_as_grey_rgb(model_path: Path) -> None:
    frame = split_image(48, 64)  # red (person) left, green right
    pipe = Pipeline(model_path, effect="color", color="#0000ff")
    assert pipe.view == "effect"
    effect_out = pipe.process(frame)
    pipe.view = "mask"
    out = pipe.process(frame)
    assert out.shape == frame.shape and out.dtype == np.uint8
    expected = (pipe.last_alpha * 255).astype(np.uint8)
    assert all(np.array_equal(out[..., c], expected) for c in range(3))
    assert out[:, :8].min() > 200 and out[:, -8:].max() < 50  # white where the person is kept
    assert set(pipe.last_timings) >= {"segment", "refine", "effect", "compose"}  # still the whole frame's work
    pipe.view = "effect"
    assert np.array_equal(pipe.process(frame), effect_out)


def test_mask_view_of_an_inverted_pipeline_is_white_where_the_frame_is_left(model_path: Path) -> None:
    pipe = Pipeline(model_path, invert=True)
    pipe.view = "mask"
    out = pipe.process(split_image(48, 64))
    assert out[:, :8].max() < 50 and out[:, -8:].min() > 200


def test_unknown_view_is_refused(model_path: Path) -> None:
    pipe = Pipeline(model_path)
    with pytest.raises(ValueError, match="view"):
        pipe.view = "matte"
    assert pipe.view == "effect"
