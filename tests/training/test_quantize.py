"""INT8 quantisation of segblur models: calibration as the runtime preprocesses, metadata kept, outputs close."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from conftest import assert_one_line_naming, build_model

from segblur.cli.main import main
from segblur.fastsoftmax import PREFIX as SOFTMAX_NODES
from segblur.fastsoftmax import count_softmaxes
from segblur.quantize import QuantizeError, calibration_files, quantize_int8
from segblur.runtime.model import METADATA_KEY, OnnxModel
from segblur.runtime.segmenter import Segmenter, make_blob


def photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """RGB uint8: a few coloured discs on black, plus noise."""
    img = np.zeros((h, w, 3), np.uint8)
    for _ in range(6):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.circle(img, centre, int(rng.integers(3, max(4, h // 2))), colour, -1)
    return np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def calibration(tmp_path: Path) -> Path:
    """A folder of 12 photos of varied sizes (one in a subfolder)."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "cal"
    (folder / "sub").mkdir(parents=True)
    for i in range(12):
        path = folder / ("sub" if i == 0 else "") / f"{i:02d}.png"
        cv2.imwrite(str(path), cv2.cvtColor(photo(rng, 40 + 3 * i, 50), cv2.COLOR_RGB2BGR))
    return folder


def quantized_ops(path: Path) -> Counter:
    return Counter(n.op_type for n in onnx.load(str(path)).graph.node)


def compare(src: Path, dst: Path, n: int = 8) -> tuple[float, float]:
    """(max |p_fp32 - p_int8|, argmax agreement) on fresh photos the calibration did not see."""
    fp, q = OnnxModel(src), OnnxModel(dst)
    rng = np.random.default_rng(123)
    blobs = [make_blob(photo(rng, 60, 70), fp.info) for _ in range(n)]
    a = np.concatenate([fp.run(b) for b in blobs])
    b = np.concatenate([q.run(b) for b in blobs])
    return float(np.abs(a - b).max()), float((a.argmax(1) == b.argmax(1)).mean())


def test_preprocess_is_what_the_segmenter_feeds_the_model(model3_path: Path) -> None:
    seg = Segmenter(model3_path)
    img = photo(np.random.default_rng(1), 75, 101)  # odd size: halving, then a short resize
    blob = make_blob(img, seg.info)
    assert blob.shape == (1, 3, 32, 32) and blob.dtype == np.float32
    assert np.allclose(seg.model.run(blob)[0], seg.probabilities_lowres(img), atol=1e-6)


def test_quantize_conv_model_keeps_metadata_and_outputs(tmp_path: Path, model3_path: Path,
                                                        calibration: Path) -> None:
    dst = quantize_int8(model3_path, tmp_path / "out" / "tiny3-int8.onnx", calibration)
    assert dst == tmp_path / "out" / "tiny3-int8.onnx"
    assert [p.name for p in dst.parent.iterdir()] == ["tiny3-int8.onnx"]  # written atomically, no temp left
    ops = quantized_ops(dst)
    assert ops["QuantizeLinear"] >= 1 and ops["DequantizeLinear"] >= 2  # the conv really is quantised
    fp, q = OnnxModel(model3_path), OnnxModel(dst)
    assert q.info.classes == fp.info.classes and q.info.foreground == fp.info.foreground
    assert (q.info.input_size, q.info.mean, q.info.std) == (fp.info.input_size, fp.info.mean, fp.info.std)
    assert q.info.extra["quantization"] == "int8"
    assert q.info.extra["calibration"]["images"] == 12 and q.info.extra["data"] == "synthetic"
    meta = json.loads({p.key: p.value for p in onnx.load(str(dst)).metadata_props}[METADATA_KEY])
    assert meta["metrics"] == {"note": "test"}
    diff, agree = compare(model3_path, dst)
    assert diff < 0.1 and agree > 0.9
    assert count_softmaxes(onnx.load(str(model3_path))) == 1 and count_softmaxes(onnx.load(str(dst))) == 0


@pytest.mark.parametrize("classes, tail_ops", [
    (["background", "person"], ["Concat", "Neg", "Sigmoid", "Sigmoid", "Slice", "Slice", "Sub"]),
    (["background", "person", "car"], ["Div", "Exp", "ReduceMax", "ReduceSum", "Sub"]),
])
def test_quantize_exported_unet(tmp_path: Path, calibration: Path, classes: list[str], tail_ops: list[str]) -> None:
    torch = pytest.importorskip("torch")
    from segblur.training.export import checkpoint_metadata, export_onnx
    from segblur.training.models import create_model

    torch.manual_seed(0)
    net = create_model("unet", len(classes), width=4).eval()
    cfg = {"arch": "unet", "arch_kwargs": {"width": 4}, "classes": classes,
           "foreground": ["person"], "image_size": 32, "mean": [123.675, 116.28, 103.53],
           "std": [58.395, 57.12, 57.375]}
    src = export_onnx(net, tmp_path / "unet.onnx", checkpoint_metadata({"config": cfg, "epoch": 0}, "unet"))
    exported = onnx.load(str(src))
    assert count_softmaxes(exported) == 0  # the export writes the element-wise softmax
    assert sorted(n.op_type for n in exported.graph.node if n.name.startswith(SOFTMAX_NODES)) == tail_ops
    dst = quantize_int8(src, tmp_path / "unet-int8.onnx", sorted(calibration.glob("*.png")), max_images=5)
    assert OnnxModel(dst).info.extra["calibration"]["images"] == 5
    ops = quantized_ops(dst)
    assert ops["QuantizeLinear"] >= 10 and ops["Softmax"] == 0
    # the element-wise softmax of the export stays in float: its nodes are there, none of them quantised
    tail = [n for n in onnx.load(str(dst)).graph.node if n.name.startswith(SOFTMAX_NODES)]
    assert sorted(n.op_type for n in tail) == tail_ops  # a quantised one would add QuantizeLinear nodes here
    inits = {i.name for i in onnx.load(str(dst)).graph.initializer}
    made = {o for n in tail for o in n.output}
    assert len({i for n in tail for i in n.input} - made - inits) == 1  # the logits; no Q/DQ pair inside
    assert dst.stat().st_size < src.stat().st_size / 2  # int8 weights
    diff, agree = compare(src, dst)
    assert diff < 0.05 and agree > 0.95


def test_quantized_model_runs_in_segblur_image(tmp_path: Path, model_path: Path, calibration: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    q = quantize_int8(model_path, tmp_path / "q.onnx", calibration)
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), cv2.cvtColor(photo(np.random.default_rng(2), 30, 40), cv2.COLOR_RGB2BGR))
    code = main(["image", str(src), "-o", str(tmp_path / "out.jpg"), "--model", str(q)])
    assert code == 0, capsys.readouterr().err
    assert cv2.imread(str(tmp_path / "out.jpg")).shape == (30, 40, 3)


def test_calibration_files_thins_evenly_and_refuses_empty(tmp_path: Path, calibration: Path) -> None:
    files = calibration_files(calibration)
    assert len(files) == 12 and any(p.parent.name == "sub" for p in files)
    four = calibration_files(calibration, max_images=4)
    assert len(four) == 4 and four[0] == files[0] and four[-1] == files[-1]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    with pytest.raises(QuantizeError) as e:
        calibration_files(empty)
    assert_one_line_naming(str(e.value), empty)
    with pytest.raises(QuantizeError) as e:
        calibration_files(tmp_path / "missing")
    assert_one_line_naming(str(e.value), tmp_path / "missing")


def test_quantize_errors_are_one_line(tmp_path: Path, model_path: Path, calibration: Path) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(QuantizeError) as e:
        quantize_int8(junk, tmp_path / "out.onnx", calibration)
    assert_one_line_naming(str(e.value), junk)
    no_meta = build_model(tmp_path / "nometa.onnx", metadata=False)
    with pytest.raises(QuantizeError) as e:
        quantize_int8(no_meta, tmp_path / "out.onnx", calibration)
    assert_one_line_naming(str(e.value), no_meta)
    bad_images = tmp_path / "bad"
    bad_images.mkdir()
    (bad_images / "a.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(QuantizeError) as e:
        quantize_int8(model_path, tmp_path / "out.onnx", bad_images)
    assert_one_line_naming(str(e.value), bad_images)
    q = quantize_int8(model_path, tmp_path / "q.onnx", calibration)
    with pytest.raises(QuantizeError) as e:  # quantising twice makes no sense
        quantize_int8(q, tmp_path / "qq.onnx", calibration)
    assert_one_line_naming(str(e.value), q)
    assert not (tmp_path / "out.onnx").exists() and not (tmp_path / "qq.onnx").exists()


def test_unreadable_calibration_images_are_skipped(tmp_path: Path, model_path: Path, calibration: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    (calibration / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    q = quantize_int8(model_path, tmp_path / "q.onnx", calibration)
    assert OnnxModel(q).info.extra["calibration"]["images"] == 12
    assert any("broken.png" in r.getMessage() for r in caplog.records)


def test_export_cli_quantises_an_onnx_model_with_name_and_metrics(tmp_path: Path, model3_path: Path,
                                                                    calibration: Path, capsys) -> None:
    """`segblur export MODEL.onnx --int8` needs no checkpoint; --name and --metrics replace the source's."""
    scores = tmp_path / "m.json"
    scores.write_text(json.dumps({"set test": {"mean_iou": 0.5}, "note": "made up for the test"}))
    out = tmp_path / "q.onnx"
    assert main(["export", str(model3_path), "-o", str(out), "--int8", "--calibration", str(calibration),
                 "--name", "tiny-int8", "--metrics", str(scores)]) == 0
    info = OnnxModel(out).info
    assert info.name == "tiny-int8" and info.extra["quantization"] == "int8"
    assert info.extra["metrics"]["set test"] == {"mean_iou": 0.5}
    n = len(list(calibration.iterdir()))  # the calibration pass (34 s for person-lite) shows its progress
    progress = [ln for ln in capsys.readouterr().err.splitlines() if "calibration images" in ln]
    assert progress and progress[-1].startswith(f"{n}/{n} calibration images (100%)") and "/s" in progress[-1]
    assert main(["export", str(model3_path), "-o", str(tmp_path / "x.onnx")]) == 2
    assert "--int8" in capsys.readouterr().err
    assert main(["export", str(model3_path), "-o", str(tmp_path / "x.onnx"), "--int8"]) == 2
    assert "--calibration" in capsys.readouterr().err
    assert not (tmp_path / "x.onnx").exists()


def test_quantize_without_metrics_marks_the_source_scores(tmp_path: Path, model3_path: Path,
                                                          calibration: Path) -> None:
    src = OnnxModel(model3_path).info.extra["metrics"]
    assert src  # conftest's models carry a metrics entry
    q = quantize_int8(model3_path, tmp_path / "q.onnx", calibration)
    extra = OnnxModel(q).info.extra
    assert extra["metrics"] == src and "fp32" in extra["metrics_note"]


def test_quantize_flushes_subnormal_scales(tmp_path: Path, calibration: Path) -> None:
    """A channel whose weights all but vanished gets a subnormal per-channel scale (person-lite-int8 had four):
    the slow path on Intel, so the INT8 model is written without them and the channel dequantises to 0."""
    from segblur.denormals import count_denormals

    w = np.array([[1.0, -2.0, 0.5], [1e-36, -2e-36, 1e-36]], np.float32)  # channel 1: scale 2e-36 / 127
    src = build_model(tmp_path / "tiny.onnx", weight=w, bias=np.zeros(2, np.float32))
    dst = quantize_int8(src, tmp_path / "tiny-int8.onnx", calibration)
    assert count_denormals(onnx.load(str(dst))) == 0
    diff, agree = compare(src, dst)
    assert diff < 0.1 and agree > 0.9
