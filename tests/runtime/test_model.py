"""The model contract (segblur.runtime.model): what loads, and the one-line errors for what does not."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import assert_one_line_naming, build_model, segblur_metadata

from segblur.names import DEFAULT_MODEL, builtin_dir, builtin_models
from segblur.runtime import model
from segblur.runtime.model import (
    ModelError,
    ModelInfo,
    OnnxModel,
    choose_providers,
    parse_metadata,
    provider_name,
    resolve_model_path,
)
from segblur.runtime.resize import kept_size


def test_valid_model_loads_with_its_metadata(model_path: Path) -> None:
    m = OnnxModel(model_path)
    i = m.info
    assert isinstance(i, ModelInfo)
    assert i.name == "tiny" and i.architecture == "conv1x1"
    assert i.classes == ("background", "person")
    assert i.foreground == ("person",)
    assert i.input_name == "image" and i.input_size == (32, 32)
    assert (i.layout, i.color, i.resize) == ("NCHW", "RGB", "stretch")
    assert i.mean == (127.5, 127.5, 127.5) and i.std == (127.5, 127.5, 127.5)
    assert (i.output_name, i.output_kind) == ("probabilities", "probabilities")
    assert i.extra == {"data": "synthetic", "metrics": {"note": "test"}}
    assert m.path == model_path
    assert m.provider == "CPUExecutionProvider"
    out = m.run(np.zeros((1, 3, 32, 32), np.float32))
    assert out.shape == (1, 2, 32, 32)
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-5)


def test_input_size_is_height_width(make_model: Callable[..., Path]) -> None:
    m = OnnxModel(make_model(size=(24, 40)))
    assert m.info.input_size == (24, 40)


def test_model_accepts_a_string_path(model_path: Path) -> None:
    assert OnnxModel(str(model_path)).info.name == "tiny"


def _bad_text_onnx(tmp: Path) -> Path:
    p = tmp / "notes.onnx"
    p.write_text("this is a text file, not a network\n")
    return p


def _empty(tmp: Path) -> Path:
    p = tmp / "empty.onnx"
    p.write_bytes(b"")
    return p


def _folder(tmp: Path) -> Path:
    p = tmp / "folder.onnx"
    p.mkdir()
    return p


def _truncated(tmp: Path) -> Path:
    good = build_model(tmp / "good.onnx").read_bytes()
    p = tmp / "cut.onnx"
    p.write_bytes(good[: len(good) // 2])
    return p


@pytest.mark.parametrize("make_bad", [_bad_text_onnx, _empty, _folder, _truncated],
                         ids=["text-file", "empty", "folder", "truncated"])
def test_unusable_files_raise_one_line_model_error(tmp_path: Path, make_bad: Callable[[Path], Path]) -> None:
    path = make_bad(tmp_path)
    with pytest.raises(ModelError) as ei:
        OnnxModel(path)
    assert_one_line_naming(ei.value, path)


def test_missing_file_raises_model_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "nope.onnx"
    with pytest.raises(ModelError) as ei:
        OnnxModel(path)
    assert_one_line_naming(ei.value, path)


def test_unknown_builtin_name_lists_the_builtins() -> None:
    with pytest.raises(ModelError) as ei:
        OnnxModel("no-such-model")
    assert_one_line_naming(ei.value, "no-such-model")
    assert DEFAULT_MODEL in str(ei.value)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(meta: dict[str, Any]) -> None:
        d = meta
        *parents, last = path.split(".")
        for k in parents:
            d = d[k]
        if value is _DELETE:
            del d[last]
        else:
            d[last] = value

    return edit


_DELETE = object()

BAD_MODELS: dict[str, dict[str, Any]] = {
    "no-metadata": {"metadata": False},
    "metadata-not-json": {"raw_metadata": "{format: 1, classes: [oops"},
    "metadata-not-object": {"raw_metadata": "[1, 2, 3]"},
    "format-2": {"edit": _set("format", 2)},
    "format-missing": {"edit": _set("format", _DELETE)},
    "foreground-unknown-class": {"foreground": ["cat"]},
    "foreground-empty": {"edit": _set("foreground", [])},
    "one-class": {"edit": _set("classes", ["person"])},
    "duplicate-classes": {"edit": _set("classes", ["person", "person"])},
    "output-channels-differ-from-classes": {"channels": 3},
    "input-size-mismatch": {"graph_size": (16, 16)},
    "size-not-a-pair": {"edit": _set("input.size", [32])},
    "mean-two-numbers": {"edit": _set("input.mean", [1, 2])},
    "std-zero": {"edit": _set("input.std", [1, 0, 1])},
    "layout-nhwc": {"edit": _set("input.layout", "NHWC")},
    "color-yuv": {"edit": _set("input.color", "YUV")},
    "resize-letterbox": {"edit": _set("input.resize", "letterbox")},
    "resize-keep-on-a-fixed-size-graph": {"edit": _set("input.resize", "keep")},
    "output-kind-unknown": {"edit": _set("output.kind", "mask")},
    "input-not-object": {"edit": _set("input", "image")},
}


@pytest.mark.parametrize("options", BAD_MODELS.values(), ids=BAD_MODELS.keys())
def test_bad_models_raise_one_line_model_error(make_model: Callable[..., Path], options: dict[str, Any]) -> None:
    path = make_model(**options)
    with pytest.raises(ModelError) as ei:
        OnnxModel(path)
    assert_one_line_naming(ei.value, path)


def test_no_metadata_error_says_so(make_model: Callable[..., Path]) -> None:
    with pytest.raises(ModelError, match="no segblur metadata"):
        OnnxModel(make_model(metadata=False))


def test_wrong_class_count_error_names_the_count(make_model: Callable[..., Path]) -> None:
    with pytest.raises(ModelError, match="2 classes"):
        OnnxModel(make_model(channels=3))


def test_default_resolves_to_the_builtin_model() -> None:
    path = resolve_model_path("default")
    assert path == builtin_dir() / f"{DEFAULT_MODEL}.onnx"
    assert path.is_file()
    assert resolve_model_path(DEFAULT_MODEL) == path
    assert DEFAULT_MODEL in builtin_models()


def test_a_path_resolves_to_itself(model_path: Path) -> None:
    assert resolve_model_path(model_path) == model_path


def test_builtin_default_model_meets_the_contract() -> None:
    m = OnnxModel("default")
    assert m.info.name == DEFAULT_MODEL
    assert "person" in m.info.classes and m.info.foreground == ("person",)
    h, w = m.info.input_size
    out = m.run(np.zeros((1, 3, h, w), np.float32))
    assert out.shape == (1, len(m.info.classes), h, w)
    assert np.all(out >= 0) and np.all(out <= 1)
    np.testing.assert_allclose(out.sum(1), 1.0, atol=1e-4)


def test_default_model_leaves_the_demo_flag_in_the_background() -> None:
    """``make demo``'s astronaut: the US flag at the photo's left edge (x < 70, y < 260 of 512 px, all flag) is
    background; person-fast called 82 % of it person."""
    from segblur import Pipeline
    from segblur.assets import sample_path
    from segblur.media.images import read_image

    img = read_image(sample_path())
    assert img.shape[:2] == (512, 512)
    person = Pipeline("default").mask(img) >= 0.5
    assert person[:260, :70].mean() < 0.05
    assert person[200:, 100:300].mean() > 0.95  # her suit, below the face, is kept


def test_parse_metadata_to_metadata_round_trip() -> None:
    meta = segblur_metadata(["background", "person", "car"], ["person", "car"], (48, 64), kind="logits")
    meta["metrics"] = {"iou": 0.9}
    info = parse_metadata(copy.deepcopy(meta))
    again = info.to_metadata()
    assert again == meta
    assert parse_metadata(json.loads(json.dumps(again))) == info


def test_parse_metadata_defaults_and_extra() -> None:
    meta = segblur_metadata(["bg", "fg"], ["fg"], (8, 8))
    del meta["name"], meta["architecture"], meta["input"]["resize"]
    info = parse_metadata(meta)
    assert info.resize == "stretch"
    assert info.extra == {"data": "synthetic", "metrics": {"note": "test"}}


def test_a_keep_model_sizes_its_input_by_the_image() -> None:
    meta = segblur_metadata(["bg", "fg"], ["fg"], (192, 192))
    stretch = parse_metadata(meta)
    assert stretch.input_size_for(720, 1280) == (192, 192)
    meta["input"]["resize"] = "keep"
    keep = parse_metadata(meta)
    assert keep.resize == "keep" and keep.to_metadata()["input"]["resize"] == "keep"
    assert keep.input_size_for(720, 1280) == (144, 256) and keep.input_size_for(1280, 720) == (256, 144)
    assert keep.input_size_for(480, 640) == (160, 224) and keep.input_size_for(500, 500) == (192, 192)


@pytest.mark.parametrize("h, w", [(720, 1280), (480, 640), (600, 800), (333, 517), (1, 1), (3000, 2000), (64, 1000)])
@pytest.mark.parametrize("budget", [(192, 192), (256, 256), (64, 64)])
def test_kept_size_keeps_the_aspect_and_the_pixel_count(h: int, w: int, budget: tuple[int, int]) -> None:
    kh, kw = kept_size(h, w, budget)
    assert kh % 16 == 0 and kw % 16 == 0 and kh >= 16 and kw >= 16
    assert 0.7 < kh * kw / (budget[0] * budget[1]) < 1.3
    aspect = min(max(h / w, 0.5), 2.0)  # beyond 2:1 it is squeezed to 2:1
    assert abs(np.log(kh / kw) - np.log(aspect)) < np.log(1 + 16 / min(kh, kw)) + 1e-9


@pytest.mark.parametrize("bad", [None, [], "text", 3])
def test_parse_metadata_rejects_non_objects(bad: Any) -> None:
    with pytest.raises(ModelError) as ei:
        parse_metadata(bad, "where.onnx")
    assert_one_line_naming(ei.value, "where.onnx")


def test_unavailable_provider_is_a_model_error(model_path: Path) -> None:
    with pytest.raises(ModelError, match="NoSuchExecutionProvider"):
        OnnxModel(model_path, providers=["NoSuchExecutionProvider"])


def test_threads_option_is_accepted(model_path: Path) -> None:
    m = OnnxModel(model_path, threads=1)
    assert m.run(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 2, 32, 32)


def test_model_with_symbolic_output_shape_loads_and_runs(make_model: Callable[..., Path]) -> None:
    # Models exported by torch declare symbolic output dims; a correct one must still load.
    m = OnnxModel(make_model(symbolic_output=True))
    assert m.run(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 2, 32, 32)


def test_wrong_class_count_is_refused_even_when_output_shape_is_symbolic(make_model: Callable[..., Path]) -> None:
    from segblur import Segmenter

    path = make_model(channels=3, symbolic_output=True)
    with pytest.raises(ModelError) as ei:  # at load time, or at the latest on the first frame
        Segmenter(path).predict(np.zeros((8, 8, 3), np.uint8))
    assert_one_line_naming(ei.value, path)


@pytest.mark.parametrize("edit,needle", [
    (lambda m: m["input"].update(std=[float("nan")] * 3), "std"),
    (lambda m: m.update(format=True), "format"),
    (lambda m: m["input"].update(size=[True, 32]), "size"),
    (lambda m: m.update(foreground=["person", "person"]), "foreground"),
    (lambda m: m["input"].update(name="pixels"), "input"),
    (lambda m: m["output"].update(name="scores"), "output"),
])
def test_more_bad_metadata_is_refused(tmp_path: Path, edit, needle: str) -> None:
    path = build_model(tmp_path / "m.onnx", edit=edit)
    with pytest.raises(ModelError) as e:
        OnnxModel(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and needle in msg


@pytest.mark.parametrize("edit", [lambda m: m["input"].update(mean=[1e308] * 3),
                                  lambda m: m["input"].update(std=[1e-45] * 3),
                                  lambda m: m["input"].update(mean=[-1e39, 0, 0])])
def test_mean_and_std_that_overflow_float32_are_refused(tmp_path: Path, edit) -> None:
    # Python floats, finite: but (pixel - mean) / std in float32 is infinite, and the mask came out all black.
    path = build_model(tmp_path / "m.onnx", edit=edit)
    with pytest.raises(ModelError) as e:
        OnnxModel(path)
    assert_one_line_naming(e.value, path)
    assert "infinite or NaN" in str(e.value)


def test_a_model_that_outputs_nan_is_refused_at_load(tmp_path: Path) -> None:
    path = build_model(tmp_path / "nan.onnx", bias=[float("nan"), 0.0])
    with pytest.raises(ModelError) as e:
        OnnxModel(path)
    assert_one_line_naming(e.value, path)
    assert "NaN or infinite" in str(e.value) and "grey frame" in str(e.value)


@pytest.mark.parametrize("content", [b"PK\x03\x04 torch zip", b"", b"\x80\x02pickle"])
@pytest.mark.parametrize("name", ["best.pt", "weights.bin"])
def test_a_training_checkpoint_is_named_as_one(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    if name == "weights.bin" and not content:
        return  # an empty file of no checkpoint suffix is just empty
    with pytest.raises(ModelError) as e:
        OnnxModel(path)
    assert_one_line_naming(e.value, path)
    assert "training checkpoint" in str(e.value) and "segblur export" in str(e.value)


CPU, CUDA, TRT, COREML = "CPUExecutionProvider", "CUDAExecutionProvider", "TensorrtExecutionProvider", \
    "CoreMLExecutionProvider"


@pytest.mark.parametrize(("asked", "available", "chosen"), [
    (None, [CUDA, CPU], [CUDA, CPU]),  # auto: a GPU build picks CUDA, the CPU stays the fallback
    (None, [CPU], [CPU]),
    (["auto"], [TRT, CUDA, CPU], [CUDA, CPU]),  # TensorRT only when asked for (minutes of engine building)
    (["auto"], [COREML, CPU], [COREML, CPU]),
    (["cuda"], [CUDA, CPU], [CUDA, CPU]),
    (["CUDA"], [CUDA, CPU], [CUDA, CPU]),
    ([CUDA], [CUDA, CPU], [CUDA, CPU]),
    (["tensorrt", "cuda"], [TRT, CUDA, CPU], [TRT, CUDA, CPU]),
    (["cpu"], [CUDA, CPU], [CPU]),
    (["cpu", "cuda", "cuda"], [CUDA, CPU], [CUDA, CPU]),  # each once, the CPU last
])
def test_provider_choice(asked: list[str] | None, available: list[str], chosen: list[str]) -> None:
    assert choose_providers(asked, available) == chosen


def test_a_provider_this_build_lacks_names_what_it_has() -> None:
    with pytest.raises(ModelError, match="CUDAExecutionProvider not available.*available: CPUExecutionProvider.*"
                                         "onnxruntime-gpu"):
        choose_providers(["cuda"], [CPU])
    assert provider_name(" Cuda ") == CUDA and provider_name("MyExecutionProvider") == "MyExecutionProvider"


def test_a_provider_that_cannot_start_is_logged(model_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    # A GPU build on a machine whose driver is missing: ONNX Runtime falls back to the CPU; the log says so.
    real = model.ort.InferenceSession
    monkeypatch.setattr(model.ort, "get_available_providers", lambda: [CUDA, CPU])
    monkeypatch.setattr(model.ort, "InferenceSession",
                        lambda path, sess_options, providers: real(path, sess_options, providers=[CPU]))
    with caplog.at_level("INFO", logger="segblur"):
        m = OnnxModel(model_path)
    assert m.provider == CPU
    assert "CUDAExecutionProvider could not start, running on CPUExecutionProvider" in caplog.text
    assert "on CPUExecutionProvider" in caplog.text
