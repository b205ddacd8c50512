"""fastsoftmax: the class softmax as element-wise operations gives the same probabilities, faster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import build_model

from segblur.fastsoftmax import PREFIX, count_softmaxes, fast_softmax, fix_file, main
from segblur.names import builtin_dir, builtin_models
from segblur.runtime.segmenter import Segmenter


@pytest.mark.parametrize("classes, ops", [
    (("background", "person"), ["Concat", "Neg", "Sigmoid", "Sigmoid", "Slice", "Slice", "Sub"]),
    (("background", "skin", "hair"), ["Div", "Exp", "ReduceMax", "ReduceSum", "Sub"]),
])
def test_rewrite_keeps_the_probabilities(tmp_path: Path, classes: tuple[str, ...], ops: list[str]) -> None:
    rng = np.random.default_rng(0)
    weight = rng.normal(0, 20, (len(classes), 3)).astype(np.float32)  # large logits: confident pixels
    path = build_model(tmp_path / "m.onnx", classes=classes, weight=weight)
    rgb = rng.integers(0, 256, (32, 32, 3), np.uint8)
    before = Segmenter(path).probabilities_lowres(rgb)
    model = onnx.load(str(path))
    assert count_softmaxes(model) == 1
    assert fix_file(path) == 1
    fixed = onnx.load(str(path))
    assert count_softmaxes(fixed) == 0 and fast_softmax(fixed) == 0
    assert sorted(n.op_type for n in fixed.graph.node if n.name.startswith(PREFIX)) == ops
    assert fixed.metadata_props == model.metadata_props
    after = Segmenter(path).probabilities_lowres(rgb)
    assert before.min() < 0.01 and before.max() > 0.99  # confident pixels too, where exp overflows naively
    np.testing.assert_allclose(after, before, atol=1e-6)
    np.testing.assert_allclose(after.sum(0), 1.0, atol=1e-6)


def test_models_without_a_channel_softmax_are_left_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = build_model(tmp_path / "logits.onnx", kind="logits")
    data = path.read_bytes()
    assert main([str(path)]) == 0
    assert "0 softmax node(s) rewritten" in capsys.readouterr().out
    assert path.read_bytes() == data


@pytest.mark.parametrize("name", builtin_models())
def test_shipped_models_have_no_slow_softmax(name: str) -> None:
    assert count_softmaxes(onnx.load(str(builtin_dir() / f"{name}.onnx"))) == 0
