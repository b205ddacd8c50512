"""The shared LiteRT loader and the MediaPipe reference on it, with a fake interpreter (no LiteRT, no model file)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import FakeInterpreter

from segblur.bench.litert import LiteRTError, TFLiteModel, load_interpreter
from segblur.bench.reference import MediaPipeSelfie


def test_model_runs_named_outputs_without_the_batch_axis() -> None:
    fake = FakeInterpreter({"mask": lambda x: x[..., :1] * 2, "score": lambda x: np.full((1, 1), 0.25)}, size=(8, 6))
    m = TFLiteModel("fake.tflite", interpreter=fake)
    assert (m.input_height, m.input_width) == (8, 6)
    assert m.first_output == "mask"
    x = np.random.default_rng(0).random((8, 6, 3)).astype(np.float32)
    out = m.run(x, ("mask", "score"))
    assert out["mask"].shape == (8, 6, 1)
    np.testing.assert_allclose(out["mask"][..., 0], x[..., 0] * 2)
    assert out["score"].shape == (1,) and out["score"][0] == pytest.approx(0.25)
    assert list(m.run(x)) == ["mask"]  # default: the first output only


def test_unknown_output_and_bad_input_are_one_line_errors() -> None:
    m = TFLiteModel("fake.tflite", interpreter=FakeInterpreter({"a": lambda x: x, "b": lambda x: x}))
    with pytest.raises(LiteRTError, match="no output 'c' \\(outputs: a, b\\)"):
        m.output("c")
    with pytest.raises(LiteRTError, match="unexpected model input"):
        TFLiteModel("q.tflite", interpreter=FakeInterpreter({"a": lambda x: x}, dtype=np.uint8))


def test_missing_file_is_reported_without_a_traceback(tmp_path) -> None:
    pytest.importorskip("ai_edge_litert", reason="LiteRT (the bench extra) is not installed")
    with pytest.raises(LiteRTError, match="no such file"):
        load_interpreter(tmp_path / "none.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a model")
    with pytest.raises(LiteRTError, match="not a usable TFLite model"):
        load_interpreter(bad)


def test_reference_predicts_at_the_image_size_from_the_first_output() -> None:
    # The fake "model" returns the red channel as the probability: a red left half is person.
    ref = MediaPipeSelfie("fake.tflite", interpreter=FakeInterpreter({"p": lambda x: x[..., :1]}, size=(32, 32)))
    img = np.zeros((40, 60, 3), np.uint8)
    img[:, :30, 0] = 255
    prob = ref.predict(img)
    assert prob.shape == (40, 60) and prob.dtype == np.float32
    assert prob[:, :25].min() > 0.99 and prob[:, 35:].max() < 0.01
