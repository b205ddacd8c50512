"""Evaluation of models and predicted masks on datasets: library functions and ``segblur evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA, assert_one_line_naming, split_image

from segblur.cli.main import main
from segblur.data import open_dataset
from segblur.eval.evaluation import (
    EvaluationError,
    evaluate_predictions,
    evaluate_segmenter,
    match_classes,
    read_prediction,
)
from segblur.media.images import ImageError
from segblur.runtime.segmenter import Segmenter

SHARED = SHARED_DATA
IDS = ("a", "b", "c")


def make_folder(root: Path, classes: tuple[str, ...] = ("background", "person"), person_cols: int = 12,
                ids: tuple[str, ...] = IDS, size: int = 32) -> Path:
    """A folder dataset of ``size``x``size`` photos, red left half / green right half, whose masks mark
    columns [0, person_cols) as ``person`` and the rest ``background`` (ids in ``classes``' order)."""
    for sub in ("images", "masks", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    for i in ids:
        cv2.imwrite(str(root / "images" / f"{i}.png"), cv2.cvtColor(split_image(size, size), cv2.COLOR_RGB2BGR))
        m = np.full((size, size), classes.index("background"), np.uint8)
        m[:, :person_cols] = classes.index("person") if "person" in classes else 1
        cv2.imwrite(str(root / "masks" / f"{i}.png"), m)
    (root / "splits" / "test.txt").write_text("\n".join(ids) + "\n")
    return root


# The tiny model is a 1x1 convolution at 32x32: on a 32x32 photo it predicts person exactly on the red
# columns 0..15. Truth marks columns 0..11: person IoU 12/16, background IoU 16/20, pixel accuracy 28/32,
# mean accuracy (1 + 16/20) / 2, frequency-weighted IoU (12 * 0.75 + 20 * 0.8) / 32.
EXPECTED = {"person_iou": 0.75, "background_iou": 0.8, "pixel_accuracy": 28 / 32, "mean_pixel_accuracy": 0.9,
            "mean_iou": 0.775, "frequency_weighted_iou": (12 * 0.75 + 20 * 0.8) / 32}


def check_expected(report: dict, images: int = 3) -> None:
    assert report["images"] == images
    assert report["per_class"]["person"]["iou"] == pytest.approx(EXPECTED["person_iou"])
    assert report["per_class"]["background"]["iou"] == pytest.approx(EXPECTED["background_iou"])
    for key in ("pixel_accuracy", "mean_pixel_accuracy", "mean_iou", "frequency_weighted_iou"):
        assert report[key] == pytest.approx(EXPECTED[key]), key


def test_evaluate_segmenter_matches_hand_computation(tmp_path: Path, model_path: Path) -> None:
    ds = open_dataset(f"folder:{make_folder(tmp_path / 'ds')}")
    seg = Segmenter(model_path)
    report = evaluate_segmenter(seg.predict_classes, ds, model_classes=seg.classes, model_name="tiny")
    check_expected(report)
    assert report["split"] == "test" and report["failed"] == 0 and report["model"] == "tiny"
    # The edges are 4 px apart: no boundary pixel matches at the default tolerance (1 px on 32x32) ...
    assert report["mean_boundary_f1"] == 0.0
    # ... and all of them at 4 px.
    near = evaluate_segmenter(seg.predict_classes, ds, model_classes=seg.classes, tolerance_px=4)
    assert near["per_class"]["person"]["boundary_f1"] == 1.0 and near["mean_boundary_f1"] == 1.0
    json.dumps(report, allow_nan=False)


def test_model_classes_are_matched_by_name(tmp_path: Path, model_path: Path, model3_path: Path) -> None:
    # The dataset stores person as 0 and background as 1: the report is the same.
    swapped = open_dataset(f"folder:{make_folder(tmp_path / 'swapped', classes=('person', 'background'))}")
    seg = Segmenter(model_path)
    check_expected(evaluate_segmenter(seg.predict_classes, swapped, model_classes=seg.classes))
    # A 3-class model (car never predicted here) on a 2-class set: car counts as background.
    seg3 = Segmenter(model3_path)
    plain = open_dataset(f"folder:{make_folder(tmp_path / 'plain')}")
    report = evaluate_segmenter(seg3.predict_classes, plain, model_classes=seg3.classes)
    check_expected(report)
    assert report["classes"] == ["background", "person"] and "car" in report["class_note"]


def test_match_classes_folds_extra_classes_into_background() -> None:
    m = match_classes(["background", "person"], ["background", "cat", "person"])
    assert m.classes == ["background", "person"] and m.folded == ["cat"]
    assert m.truth[[0, 1, 2, 255]].tolist() == [0, 0, 1, 255]  # cat -> background, ignore kept
    assert m.prediction[[0, 1]].tolist() == [0, 1]
    p = match_classes(["person", "background"], ["background", "person"])
    assert p.prediction[[0, 1]].tolist() == [1, 0] and p.folded == []


def test_classes_that_do_not_fit_are_one_error_naming_both_lists(tmp_path: Path, model_path: Path) -> None:
    ds = open_dataset(f"folder:{make_folder(tmp_path / 'fg', classes=('background', 'foreground'))}")
    with pytest.raises(EvaluationError) as e:
        evaluate_segmenter(lambda img: np.zeros(img.shape[:2], np.uint8), ds, model_classes=["background", "person"])
    msg = str(e.value)
    assert_one_line_naming(msg, "background, person")
    assert "background, foreground" in msg


def test_a_failing_image_is_reported_and_the_rest_scored(tmp_path: Path, model_path: Path) -> None:
    root = make_folder(tmp_path / "ds")
    (root / "images" / "b.png").write_bytes(b"not an image")
    seg = Segmenter(model_path)
    errors: list[str] = []
    report = evaluate_segmenter(seg.predict_classes, open_dataset(f"folder:{root}"), model_classes=seg.classes,
                                on_error=errors.append)
    check_expected(report, images=2)
    assert report["failed"] == 1 and len(errors) == 1 and report["errors"] == errors
    assert_one_line_naming(errors[0], root / "images" / "b.png")
    other = open_dataset(f"folder:{make_folder(tmp_path / 'x')}")
    wrong = evaluate_segmenter(lambda img: np.zeros((3, 3), np.uint8), other)
    assert wrong["failed"] == 3 and wrong["images"] == 0 and wrong["mean_iou"] is None
    assert "a.png" in wrong["errors"][0]


def test_predictions_out_round_trips_through_evaluate_predictions(tmp_path: Path, model_path: Path) -> None:
    ds = open_dataset(f"folder:{make_folder(tmp_path / 'ds')}")
    seg = Segmenter(model_path)
    out = tmp_path / "pred"
    first = evaluate_segmenter(seg.predict_classes, ds, model_classes=seg.classes, predictions_out=out)
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png", "c.png"]
    mask = cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED)
    assert mask.dtype == np.uint8 and mask.ndim == 2 and set(np.unique(mask)) == {0, 255}  # like `segblur mask`
    assert (mask[:, :16] == 255).all()
    again = evaluate_predictions(out, ds)
    for key in ("per_class", "mean_iou", "pixel_accuracy", "mean_boundary_f1", "images"):
        assert again[key] == first[key]


def test_evaluate_predictions_reads_class_ids_and_reports_missing_ones(tmp_path: Path) -> None:
    ds = open_dataset(f"folder:{make_folder(tmp_path / 'ds', classes=('background', 'person', 'car'))}")
    pred = tmp_path / "pred"
    pred.mkdir()
    m = np.zeros((32, 32), np.uint8)
    m[:, :16] = 1
    m[0, 31] = 2
    cv2.imwrite(str(pred / "a.png"), m)
    cv2.imwrite(str(pred / "c.png"), m)
    errors: list[str] = []
    r = evaluate_predictions(pred, ds, on_error=errors.append)
    assert r["images"] == 2 and r["failed"] == 1
    assert_one_line_naming(errors[0], "'b'")
    # person: 12 true columns, 16 predicted -> 0.75; car: 1 pixel predicted, none true -> IoU 0.
    assert r["per_class"]["person"]["iou"] == pytest.approx(0.75)
    assert r["per_class"]["car"]["iou"] == 0.0 and r["per_class"]["car"]["accuracy"] is None


def test_read_prediction_rules(tmp_path: Path) -> None:
    binary = np.zeros((4, 5), np.uint8)
    binary[:, :2] = 255
    cv2.imwrite(str(tmp_path / "b.png"), binary)
    assert read_prediction(tmp_path / "b.png", 2).tolist() == (binary // 255).tolist()
    with pytest.raises(ImageError) as e:  # 255 is no class of a 3-class set
        read_prediction(tmp_path / "b.png", 3)
    assert_one_line_naming(str(e.value), tmp_path / "b.png")
    colour = np.zeros((4, 5, 3), np.uint8)
    colour[..., 2] = 1
    cv2.imwrite(str(tmp_path / "c.png"), colour)
    with pytest.raises(ImageError):
        read_prediction(tmp_path / "c.png", 3)
    with pytest.raises(ImageError):
        read_prediction(tmp_path / "missing.png", 2)


# --- the command -----------------------------------------------------------------------------------------

def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_evaluate_prints_table_and_writes_json(tmp_path: Path, model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = make_folder(tmp_path / "ds")
    js = tmp_path / "out" / "report.json"
    code, out, err = run(capsys, "evaluate", "--model", model_path, "--data", f"folder:{root}", "--json", js,
                         "--predictions-out", tmp_path / "pred")
    assert code == 0, err
    assert "person" in out and "0.7500" in out and "mean IoU 0.7750" in out and "boundary F1" in out
    assert "3/3 images" in err and "ETA" in err  # progress with rate and ETA
    report = json.loads(js.read_text())
    check_expected(report)
    assert report["data"] == f"folder:{root}"
    assert [p.name for p in js.parent.iterdir()] == ["report.json"]  # no temp file left
    code, out, err = run(capsys, "evaluate", "--predictions", tmp_path / "pred", "--data", f"folder:{root}",
                         "--tolerance-px", "4", "-q")
    assert code == 0 and err == ""
    assert "mean boundary F1 1.0000 (tolerance 4 px)" in out


def test_cli_evaluate_failures(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_folder(tmp_path / "ds")
    pred = tmp_path / "pred"
    pred.mkdir()
    cv2.imwrite(str(pred / "a.png"), np.zeros((32, 32), np.uint8))
    code, out, err = run(capsys, "evaluate", "--predictions", pred, "--data", f"folder:{root}", "-q")
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 2 and "'b'" in lines[0] and "'c'" in lines[1]
    assert "1 images, 2 failed" in out
    for argv, name in (
        (["--model", model_path, "--data", "voc:" + str(root)], root),  # not a VOC layout
        (["--model", tmp_path / "nope.onnx", "--data", f"folder:{root}"], tmp_path / "nope.onnx"),
        (["--model", model_path, "--data", f"folder:{root}", "--split", "holdout"], "holdout"),
        (["--predictions", tmp_path / "none", "--data", f"folder:{root}"], tmp_path / "none"),
    ):
        code, _, err = run(capsys, "evaluate", *argv)
        assert code == 2, argv
        line = err.strip()
        assert line.startswith("segblur: error:") and "\n" not in line
        assert str(name) in line
    with pytest.raises(SystemExit):  # --model and --predictions exclude each other
        main(["evaluate", "--model", str(model_path), "--predictions", str(pred), "--data", f"folder:{root}"])


def test_cli_evaluate_is_listed_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "evaluate" in capsys.readouterr().out


# --- checkpoints -----------------------------------------------------------------------------------------

def test_checkpoint_and_its_onnx_export_evaluate_the_same(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from segblur.training.checkpoint import save
    from segblur.training.export import checkpoint_metadata, export_onnx
    from segblur.training.models import create_model
    from segblur.training.predict import CheckpointError, CheckpointPredictor

    torch.manual_seed(0)
    net = create_model("unet", 2, width=4).eval()
    cfg = {"arch": "unet", "arch_kwargs": {"width": 4}, "classes": ["background", "person"],
           "foreground": ["person"], "image_size": 32, "mean": [123.675, 116.28, 103.53],
           "std": [58.395, 57.12, 57.375], "data": "folder:synthetic"}
    ckpt = tmp_path / "tiny.pt"
    save({"model": net.state_dict(), "config": cfg, "epoch": 0, "best": 0.0, "val": {}}, ckpt)
    onnx_path = export_onnx(net, tmp_path / "tiny.onnx", checkpoint_metadata({"config": cfg, "epoch": 0}, "tiny"))

    root = tmp_path / "ds"
    make_folder(root, size=48)
    rng = np.random.default_rng(0)
    for i in IDS:  # textured photos of another size than the model's input, so the network's output varies
        noisy = (rng.random((40, 56, 3)) * 255).astype(np.uint8)
        cv2.imwrite(str(root / "images" / f"{i}.png"), noisy)
        m = np.zeros((40, 56), np.uint8)
        m[:, :20] = 1
        cv2.imwrite(str(root / "masks" / f"{i}.png"), m)
    ds = open_dataset(f"folder:{root}")

    ck = CheckpointPredictor(ckpt)
    seg = Segmenter(onnx_path)
    assert ck.classes == seg.classes and ck.input_size == (32, 32)
    img, _ = ds.load(ds.samples("test")[0])
    assert np.abs(ck.probabilities_lowres(img) - seg.probabilities_lowres(img)).max() < 1e-4
    assert (ck.predict_classes(img) == seg.predict_classes(img)).mean() > 0.999
    a = evaluate_segmenter(ck.predict_classes, ds, model_classes=ck.classes)
    b = evaluate_segmenter(seg.predict_classes, ds, model_classes=seg.classes)
    assert a["images"] == b["images"] == 3
    assert a["mean_iou"] == pytest.approx(b["mean_iou"], abs=1e-3)
    assert a["pixel_accuracy"] == pytest.approx(b["pixel_accuracy"], abs=1e-3)

    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError) as e:
        CheckpointPredictor(bad)
    assert_one_line_naming(str(e.value), bad)


def test_cli_evaluates_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch = pytest.importorskip("torch")
    from segblur.training.checkpoint import save
    from segblur.training.models import create_model

    torch.manual_seed(1)
    net = create_model("unet", 2, width=4).eval()
    cfg = {"arch": "unet", "arch_kwargs": {"width": 4}, "classes": ["background", "person"],
           "foreground": ["person"], "image_size": 32, "mean": [123.675, 116.28, 103.53],
           "std": [58.395, 57.12, 57.375], "data": "folder:synthetic"}
    ckpt = tmp_path / "c.pt"
    save({"model": net.state_dict(), "config": cfg, "epoch": 0, "best": 0.0, "val": {}}, ckpt)
    root = make_folder(tmp_path / "ds")
    code, out, err = run(capsys, "evaluate", "--model", ckpt, "--data", f"folder:{root}", "-q")
    assert code == 0, err
    assert f"model: {ckpt}" in out and "person" in out
    code, _, err = run(capsys, "evaluate", "--model", tmp_path / "missing.pt", "--data", f"folder:{root}")
    assert code == 2 and str(tmp_path / "missing.pt") in err


# --- real data -------------------------------------------------------------------------------------------

@pytest.mark.integration
def test_person_fast_on_real_photos_and_on_classes_that_do_not_fit(tmp_path: Path) -> None:
    shen = SHARED / "flickr-portraits-shen2016"
    if not shen.is_dir():
        pytest.skip("shared data not available")
    # A "folder" view of six Shen photos: images/ and masks/ (0/255) linked, not copied.
    root = tmp_path / "shen"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "classes.txt").write_text("background\nperson\n")
    ids = sorted(p.stem for p in (shen / "masks").glob("*.png"))[:6]
    for i in ids:
        (root / "images" / f"{i}.jpg").symlink_to(shen / "images" / f"{i}.jpg")
        (root / "masks" / f"{i}.png").symlink_to(shen / "masks" / f"{i}.png")
    seg = Segmenter("person-fast")
    r = evaluate_segmenter(seg.predict_classes, open_dataset(f"folder:{root}"), model_classes=seg.classes)
    assert r["images"] == 6 and r["failed"] == 0, r["errors"]
    assert r["per_class"]["person"]["iou"] > 0.8
    assert r["per_class"]["person"]["boundary_f1"] > 0.3
    lfw = SHARED / "lfw-parts"
    if lfw.is_dir():
        with pytest.raises(EvaluationError):
            evaluate_segmenter(seg.predict_classes, open_dataset(f"lfw:{lfw}"), model_classes=seg.classes)
