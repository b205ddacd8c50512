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
    path = builtin_dir() / f"{name}.onnx"
    model = onnx.load(str(path))
    assert count_softmaxes(model) == 0
    ops = [n.op_type for n in model.graph.node if n.name.startswith(PREFIX)]
    assert ops.count("Sigmoid") == 2 if len(Segmenter(path).classes) == 2 else "Exp" in ops


@pytest.mark.parametrize("channels, form", [(2, "Sigmoid"), (3, "Exp")])
def test_channels_found_behind_a_resize_shape_inference_cannot_size(channels: int, form: str) -> None:
    """torch sizes its Resize from Shape ops, so only the head conv's weight tells the channel count (2); a Resize
    that changes the channels too (3, from the conv's 2) is caught by running both and gets the general form."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    nodes = [helper.make_node("Conv", ["image", "W"], ["logits"]),
             helper.make_node("Shape", ["image"], ["shape"]),
             helper.make_node("Slice", ["shape", "two", "four"], ["hw"]),
             helper.make_node("Mul", ["hw", "scale"], ["hw2"]),
             helper.make_node("Concat", ["nc", "hw2"], ["sizes"], axis=0),
             helper.make_node("Resize", ["logits", "", "", "sizes"], ["up"], mode="nearest"),
             helper.make_node("Softmax", ["up"], ["probabilities"], axis=1)]
    inits = [numpy_helper.from_array(rng.normal(0, 20, (2, 3, 1, 1)).astype(np.float32), "W"),
             numpy_helper.from_array(np.array([2], np.int64), "two"),
             numpy_helper.from_array(np.array([4], np.int64), "four"),
             numpy_helper.from_array(np.array([2, 2], np.int64), "scale"),
             numpy_helper.from_array(np.array([1, channels], np.int64), "nc")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, None)], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    x = rng.normal(0, 1, (1, 3, 8, 8)).astype(np.float32)

    def run(m: onnx.ModelProto) -> np.ndarray:
        import onnxruntime as ort
        session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, {"image": x})[0]

    before = run(model)
    assert fast_softmax(model) == 1
    assert form in {n.op_type for n in model.graph.node if n.name.startswith(PREFIX)}
    np.testing.assert_allclose(run(model), before, atol=1e-6)
    assert before.shape == (1, channels, 16, 16)


def test_softmax_before_opset_13_is_another_function_and_left_alone(tmp_path: Path) -> None:
    """Before opset 13, Softmax(axis=1) of N x C x H x W normalised over C x H x W together."""
    path = build_model(tmp_path / "old.onnx")
    model = onnx.load(str(path))
    model.opset_import[0].version = 12
    assert count_softmaxes(model) == 0 and fast_softmax(model) == 0
    assert [n.op_type for n in model.graph.node] == ["Conv", "Softmax"]
