"""Export: checkpoint -> ONNX that meets the runtime contract, checked against torch; metadata; errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import segblur_metadata, split_image  # noqa: E402

from segblur import Segmenter  # noqa: E402
from segblur.runtime.model import ModelError  # noqa: E402
from segblur.training.checkpoint import save  # noqa: E402
from segblur.training.export import (  # noqa: E402
    ExportError,
    export_model,
    export_onnx,
    model_from_checkpoint,
    training_summary,
)
from segblur.training.models import create_model  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (the shared fixture is in conftest)."""


# torch.onnx's legacy (TorchScript) exporter, which export_onnx uses, warns about its own deprecation.
quiet_export = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_model_from_checkpoint_rebuilds_the_network(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = create_model("fastseg", 2, width=0.25).eval()
    cfg = {"arch": "fastseg", "classes": ["background", "person"], "arch_kwargs": {"width": 0.25}}
    save({"model": net.state_dict(), "config": cfg, "epoch": 0, "best": 0.5}, tmp_path / "best.pt")
    rebuilt, ck = model_from_checkpoint(tmp_path / "best.pt")
    assert not rebuilt.training and ck["config"] == cfg
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


def _tiny_net(num_classes: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("fastseg", num_classes, width=0.25).eval()


@quiet_export
def test_export_onnx_meets_the_runtime_contract(tmp_path: Path) -> None:
    net = _tiny_net()
    meta = segblur_metadata(["background", "person"], ["person"], (64, 64))
    path = export_onnx(net, tmp_path / "tiny.onnx", meta)
    assert path == tmp_path / "tiny.onnx"
    assert files_in(tmp_path) == ["tiny.onnx"]  # no check file or temp file left behind
    seg = Segmenter(path)
    assert seg.info.classes == ("background", "person") and seg.info.input_size == (64, 64)
    assert seg.info.output_kind == "probabilities" and seg.info.extra["metrics"] == {"note": "test"}
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    x = (torch.from_numpy(img).permute(2, 0, 1).float()[None] - 127.5) / 127.5
    with torch.no_grad():
        ref = torch.softmax(net(x), 1)[0].numpy()
    np.testing.assert_allclose(seg.probabilities_lowres(img), ref, atol=1e-4)
    np.testing.assert_allclose(seg.predict(img), ref[1], atol=1e-4)  # same size: no resampling
    big = seg.predict(split_image(100, 150))
    assert big.shape == (100, 150) and big.dtype == np.float32


@quiet_export
def test_export_onnx_zeroes_subnormal_weights(tmp_path: Path) -> None:
    """Subnormal floats are very slow to multiply on Intel CPUs; export writes them as zeros."""
    import onnx
    from onnx import numpy_helper

    net = _tiny_net()
    with torch.no_grad():
        net.head.weight[0, :4] = 1e-40
    assert (net.head.weight != 0).all()
    meta = segblur_metadata(["background", "person"], ["person"], (64, 64))
    proto = onnx.load(str(export_onnx(net, tmp_path / "tiny.onnx", meta)))
    weights = [numpy_helper.to_array(t) for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
    assert not any(((w != 0) & (np.abs(w) < np.finfo(np.float32).tiny)).any() for w in weights)
    assert sum(int((w == 0).sum()) for w in weights) >= 4


@quiet_export
def test_export_onnx_refuses_bad_metadata_before_writing(tmp_path: Path) -> None:
    meta = segblur_metadata(["background", "person"], ["cat"], (64, 64))
    with pytest.raises(ModelError):
        export_onnx(_tiny_net(), tmp_path / "bad.onnx", meta)
    assert files_in(tmp_path) == []


@quiet_export
def test_export_onnx_refuses_a_class_count_mismatch(tmp_path: Path) -> None:
    meta = segblur_metadata(["background", "person"], ["person"], (64, 64))
    with pytest.raises((ModelError, ValueError, RuntimeError)):
        export_onnx(_tiny_net(num_classes=3), tmp_path / "bad.onnx", meta)
    assert not (tmp_path / "bad.onnx").exists()


@quiet_export
def test_export_model_from_a_checkpoint(tmp_path: Path) -> None:
    net = _tiny_net()
    cfg = {"arch": "fastseg", "classes": ["background", "person"], "arch_kwargs": {"width": 0.25}, "image_size": 48,
           "mean": [127.5] * 3, "std": [127.5] * 3}
    val = {"mean_iou": 0.81234, "per_class_iou": {"background": 0.9, "person": 0.72468}}
    save({"model": net.state_dict(), "config": cfg, "epoch": 4, "best": 0.75, "val": val},
                tmp_path / "best.pt")
    out = tmp_path / "exported.onnx"
    assert export_model(tmp_path / "best.pt", out, data="synthetic") == out
    info = Segmenter(out).info
    assert info.name == "exported" and info.architecture == "fastseg" and info.input_size == (48, 48)
    assert info.foreground == ("person",)
    # The checkpoint's own validation scores are recorded (not the run's best, which may be another epoch).
    assert info.extra["training"] == {"epochs": 5, "image_size": 48, "arch_kwargs": {"width": 0.25},
                                      "val_mean_iou": 0.8123,
                                      "val_per_class_iou": {"background": 0.9, "person": 0.7247}}
    assert info.extra["data"] == "synthetic"


def _checkpoint(path: Path, **config) -> Path:
    cfg = {"arch": "fastseg", "classes": ["background", "person"], "arch_kwargs": {"width": 0.25}, "image_size": 32,
           "mean": [127.5] * 3, "std": [127.5] * 3, **config}
    save({"model": _tiny_net().state_dict(), "config": cfg, "epoch": 0}, path)
    return path


@quiet_export
def test_export_model_with_int8_leaves_only_the_quantised_file(tmp_path: Path) -> None:
    import cv2

    cal = tmp_path / "cal"
    cal.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        cv2.imwrite(str(cal / f"{i}.png"), rng.integers(0, 256, (40, 50, 3), dtype=np.uint8))
    ck = _checkpoint(tmp_path / "last.pt")
    out = export_model(ck, tmp_path / "m" / "q.onnx", int8=True, calibration=cal, metrics={"x test": {"iou": 0.5}})
    info = Segmenter(out).info
    assert info.extra["quantization"] == "int8" and info.name == "q" and info.extra["metrics"] == {
        "x test": {"iou": 0.5}}
    assert files_in(tmp_path / "m") == ["q.onnx"]


def test_export_model_errors_are_one_line(tmp_path: Path) -> None:
    ck = _checkpoint(tmp_path / "last.pt")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"x")
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("[1, 2")
    cal = tmp_path / "cal"
    cal.mkdir()
    cases = [
        ((junk, tmp_path / "o.onnx"), {}, "junk.pt: not a readable checkpoint"),
        ((tmp_path / "none.pt", tmp_path / "o.onnx"), {}, "none.pt: no such checkpoint"),
        ((ck, tmp_path / "o.onnx"), {"int8": True}, "--int8 needs --calibration"),
        ((onnx_file, tmp_path / "o.onnx"), {}, "m.onnx: already an ONNX model"),
        ((ck, tmp_path / "o.onnx"), {"metrics": bad_json}, "bad.json: cannot use these metrics"),
        ((ck, tmp_path / "o.onnx"), {"metrics": [1]}, "metrics: expected a segblur evaluate --json report"),
        ((ck, tmp_path / "o.onnx"), {"foreground": ["cat"]}, "foreground classes .'cat'. are not among"),
        # once silently ignored, or stored as if they were this model's
        ((ck, tmp_path / "o.onnx"), {"calibration": cal}, "--calibration is for --int8"),
        ((onnx_file, tmp_path / "o.onnx"), {"int8": True, "calibration": cal, "foreground": ["person"]},
         "m.onnx: an ONNX model keeps its own kept classes and data note"),
        ((onnx_file, tmp_path / "o.onnx"), {"int8": True, "calibration": cal, "data": "note"},
         "--foreground and --data-note apply when exporting a checkpoint"),
        ((ck, tmp_path / "o.onnx"), {"metrics": {"split": "val", "mean_iou": 0.5, "per_class": {"car": {"iou": 0.4}}}},
         r"metrics: data val scores classes \['car'\] that the model does not have"),
        ((ck, tmp_path / "o.onnx"), {"metrics": {"sequence": "clip.mp4", "iou": 0.6}},
         "a segblur evaluate --sequence report scores one video"),
    ]
    for args, kw, message in cases:
        with pytest.raises(ExportError, match=message) as err:
            export_model(*args, **kw)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "o.onnx").exists()
    _checkpoint(tmp_path / "odd.pt", arch_kwargs={"depth": 9})
    with pytest.raises(ExportError, match="odd.pt: "):
        export_model(tmp_path / "odd.pt", tmp_path / "o.onnx")


def test_export_never_writes_over_its_inputs_or_into_a_non_onnx_file(tmp_path: Path) -> None:
    ck = _checkpoint(tmp_path / "runs" / "best.pt")
    before = ck.read_bytes()
    cal = tmp_path / "photos"
    cal.mkdir()
    (tmp_path / "m.json").write_text("{}")
    cases = [((ck, ck), {}, "is the input"),  # the checkpoint was replaced by ONNX, rc 0
             ((ck, tmp_path / "x.txt"), {}, r"x\.txt: a model is written as ONNX; name it x\.onnx"),
             ((ck, cal / "q.onnx"), {"int8": True, "calibration": cal}, "inside the input folder"),
             ((ck, tmp_path / "m.json"), {"metrics": tmp_path / "m.json"}, "is the input")]
    for args, kw, message in cases:
        with pytest.raises(ExportError, match=message) as err:
            export_model(*args, **kw)
        assert "\n" not in str(err.value)
    assert ck.read_bytes() == before and not (tmp_path / "x.txt").exists() and list(cal.iterdir()) == []
    fp32 = tmp_path / "pf.onnx"
    fp32.write_bytes(b"an exported model")
    with pytest.raises(ExportError, match="is the input"):  # the fp32 model replaced by its INT8 version, rc 0
        export_model(fp32, fp32, int8=True, calibration=cal)
    assert fp32.read_bytes() == b"an exported model"


def test_metrics_summary_names_person_reports() -> None:
    from segblur.training.export import data_note, metrics_summary

    report = {"data": "person:/data", "split": "test", "mean_iou": 0.9, "images": 3,
              "per_class": {"person": {"iou": 0.81234}}}
    assert metrics_summary(report) == {"person test": {"mean_iou": 0.9, "iou_person": 0.8123, "images": 3}}
    mix = {"root": "d", "train": [{"set": "a", "split": "train", "weight": 2.0, "masks": None},
                                  {"set": "b", "split": "all", "weight": 1.0, "masks": "labels/b"}]}
    assert data_note({"data": mix, "train_split": "train", "train_samples": 7}) == (
        "person mix of a train x2, b all (teacher masks) (split train, 7 images)")


@quiet_export
def test_a_keep_model_runs_each_image_at_its_own_aspect_ratio_in_float_and_int8(tmp_path: Path) -> None:
    import cv2

    ck = _checkpoint(tmp_path / "best.pt", image_size=64, resize="keep")
    out = export_model(ck, tmp_path / "keep.onnx")
    seg = Segmenter(out)
    assert seg.info.resize == "keep" and seg.info.input_size == (64, 64)
    assert [d if isinstance(d, int) else None for d in seg.model.session.get_inputs()[0].shape[1:]] == [3, None, None]
    net = _tiny_net()
    for shape, low in (((720, 1280, 3), (48, 80)), ((400, 300, 3), (80, 48)), ((50, 50, 3), (64, 64))):
        img = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
        probs = seg.probabilities_lowres(img)
        assert probs.shape == (2, *low)  # landscape 80x48, portrait 48x80: the image's aspect at ~64x64 pixels
        x = (torch.from_numpy(cv2.resize(img, low[::-1], interpolation=cv2.INTER_AREA)).permute(2, 0, 1).float()[None]
             - 127.5) / 127.5
        with torch.no_grad():
            ref = torch.softmax(net(x), 1)[0].numpy()
        np.testing.assert_allclose(probs, ref, atol=2e-2)  # INTER_AREA vs the runtime's halvings: close, not equal
    cal = tmp_path / "cal"
    cal.mkdir()
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(40, 70), (70, 40), (50, 50)]):  # calibration inputs of three shapes
        cv2.imwrite(str(cal / f"{i}.png"), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    q = Segmenter(export_model(out, tmp_path / "keep-int8.onnx", int8=True, calibration=cal))
    assert q.info.resize == "keep" and q.probabilities_lowres(np.zeros((720, 1280, 3), np.uint8)).shape == (2, 48, 80)
    # ONNX Runtime's histogram calibrators need one input shape: calibration runs at the budget's.
    from segblur.quantize import quantize_int8

    e = Segmenter(quantize_int8(out, tmp_path / "keep-entropy.onnx", cal, method="entropy"))
    assert e.probabilities_lowres(np.zeros((300, 400, 3), np.uint8)).shape == (2, 48, 80)
    # As a label teacher it sees each region framed in a padded square, never stretched.
    from segblur.training.teachers import onnx_teacher

    teacher = onnx_teacher(out)
    assert teacher.fit == "square" and teacher.input_size == (64, 64)
    assert teacher.run(np.zeros((64, 64, 3), np.uint8))[0].shape == (64, 64)


def test_a_fixed_size_graph_cannot_claim_resize_keep(tmp_path: Path) -> None:
    ck = _checkpoint(tmp_path / "best.pt", image_size=64)
    stretch = export_model(ck, tmp_path / "stretch.onnx")
    import onnx

    from segblur.runtime.model import METADATA_KEY

    proto = onnx.load(str(stretch))
    entry = next(p for p in proto.metadata_props if p.key == METADATA_KEY)
    meta = json.loads(entry.value)
    meta["input"]["resize"] = "keep"
    entry.value = json.dumps(meta)
    onnx.save(proto, str(tmp_path / "liar.onnx"))
    with pytest.raises(ModelError, match="needs a free height and width"):
        Segmenter(tmp_path / "liar.onnx")


def test_a_distilled_models_metadata_names_its_teacher() -> None:
    """The teacher by file name (its local folder says nothing elsewhere) and its weight; none without one."""
    ck = {"epoch": 3, "config": {"lr": 3e-4, "teacher": "selfie=/home/x/.cache/teachers/selfie.tflite",
                                 "teacher_weight": 0.5}}
    summary = training_summary(ck)
    assert summary["teacher"] == "selfie.tflite" and summary["teacher_weight"] == 0.5 and summary["epochs"] == 4
    assert training_summary({"epoch": 0, "config": {"teacher": "person-lite"}})["teacher"] == "person-lite"
    assert "teacher" not in training_summary({"epoch": 0, "config": {"lr": 1e-3, "teacher": None}})
