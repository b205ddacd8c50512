"""denormals: flushing denormal weights keeps the model's output and removes Intel CPUs' slow path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import build_model

from segblur.denormals import count_denormals, fix_file, flush_denormals
from segblur.names import builtin_dir, builtin_models
from segblur.runtime.segmenter import Segmenter


def test_flush_zeroes_denormals_only_and_keeps_the_output(tmp_path: Path) -> None:
    w = np.array([[4.0, -4.0, 1e-39], [-1e-40, 0.0, 2.0]], np.float32)
    path = build_model(tmp_path / "m.onnx", weight=w, bias=np.array([3e-39, 0.5], np.float32))
    model = onnx.load(str(path))
    assert count_denormals(model) == 3
    rgb = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
    before = Segmenter(path).probabilities_lowres(rgb)
    assert fix_file(path) == 3
    fixed = onnx.load(str(path))
    assert count_denormals(fixed) == 0 and flush_denormals(fixed) == 0
    weights = {i.name: onnx.numpy_helper.to_array(i) for i in fixed.graph.initializer}
    np.testing.assert_array_equal(weights["W"].reshape(2, 3), [[4.0, -4.0, 0.0], [0.0, 0.0, 2.0]])
    assert fixed.metadata_props == model.metadata_props
    np.testing.assert_array_equal(Segmenter(path).probabilities_lowres(rgb), before)


@pytest.mark.parametrize("name", builtin_models())
def test_shipped_models_have_no_denormal_weights(name: str) -> None:
    assert count_denormals(onnx.load(str(builtin_dir() / f"{name}.onnx"))) == 0
