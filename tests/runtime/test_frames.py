"""runtime/frames.py: the one frame conversion (as_rgb), a leaf that runtime and media both import without a cycle."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from segblur.runtime.frames import as_rgb


def test_as_rgb_scales_16_bit_and_cleans_nan() -> None:
    assert as_rgb(np.full((2, 2), 30000, np.uint16))[0, 0, 0] == 30000 >> 8
    f = np.full((2, 2, 3), np.nan, np.float32)
    assert as_rgb(f).max() == 0


def test_as_rgb_shapes_and_dtypes() -> None:
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    rgb = as_rgb(gray)
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8 and (rgb[..., 2] == gray).all()
    assert (as_rgb(gray[..., None]) == rgb).all()
    rgba = np.dstack([rgb, np.zeros((2, 3), np.uint8)])
    assert (as_rgb(rgba) == rgb).all()
    assert as_rgb(np.ones((2, 2), bool)).max() == 255
    assert as_rgb(np.full((2, 2), 0.5, np.float32))[0, 0, 0] == 127  # 0..1 floats are scaled
    assert as_rgb(np.full((2, 2), 300.0))[0, 0, 0] == 255  # other values are clipped
    view = np.zeros((4, 6, 3), np.uint8)[:, ::2]
    assert as_rgb(view).flags.c_contiguous
    with pytest.raises(ValueError, match="shape"):
        as_rgb(np.zeros((2, 2, 2), np.uint8))


def _loaded_after(statement: str, modules: tuple[str, ...]) -> list[str]:
    code = f"import sys\n{statement}\nprint(','.join(m for m in {modules!r} if m in sys.modules))"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]
    return [m for m in res.stdout.strip().split(",") if m]


def test_frames_is_a_leaf_that_loads_no_model_code() -> None:
    # media reaches as_rgb here: that must not pull the rest of the runtime (or ONNX Runtime) in.
    assert _loaded_after("import segblur.runtime.frames", ("onnxruntime", "segblur.runtime.pipeline",
                                                           "segblur.runtime.effects", "segblur.media")) == []


def test_reading_images_does_not_reach_into_the_runtime() -> None:
    # The runtime reads background pictures with media.images, so media.images stays below the runtime: at most
    # it uses a leaf such as runtime.frames, never the modules that read it back.
    assert _loaded_after("import segblur.media.images", ("onnxruntime", "segblur.runtime.model",
                                                         "segblur.runtime.effects", "segblur.runtime.pipeline")) == []


@pytest.mark.parametrize("first", ["segblur.media.images", "segblur.runtime.effects", "segblur.runtime.frames",
                                   "segblur.media.video"])
def test_runtime_and_media_import_in_any_order(first: str) -> None:
    _loaded_after(f"import {first}\nimport segblur.runtime.pipeline, segblur.media.video, segblur.media.camera", ())
