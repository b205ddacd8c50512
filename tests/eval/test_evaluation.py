"""eval/evaluation.py: the person scores on a tiny Shen-style layout, and any model or folder of predictions on a
synthetic folder dataset (one test reads the real data and skips without it)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import (
    SHARED_DATA,
    assert_one_line_naming,
    check_columns_scores,
    make_columns_dataset,
    save_tiny_checkpoint,
)

from segblur.data import open_dataset
from segblur.eval.evaluation import (
    SHEN,
    VIKRAM,
    EvaluationError,
    evaluate_person,
    evaluate_predictions,
    evaluate_segmenter,
    match_classes,
    person_items,
)
from segblur.runtime.segmenter import Segmenter


def make_shen(root: Path) -> Path:
    """A 3-image Shen-style layout: images/<id>.jpg, masks/<id>.png (0/255), splits/*.txt."""
    d = root / SHEN
    for sub in ("images", "masks", "splits"):
        (d / sub).mkdir(parents=True)
    for i in ("a", "b", "c"):
        img = np.zeros((20, 30, 3), np.uint8)
        mask = np.zeros((20, 30), np.uint8)
        mask[:, :10] = 255  # the left third is the person
        cv2.imwrite(str(d / "images" / f"{i}.jpg"), img)
        cv2.imwrite(str(d / "masks" / f"{i}.png"), mask)
    (d / "splits" / "test.txt").write_text("a\nb\n")
    (d / "splits" / "train.txt").write_text("c\n")
    (d / "splits" / "unlisted.txt").write_text("")
    return root


def test_person_items_lists_paths(tmp_path: Path) -> None:
    root = make_shen(tmp_path)
    items = person_items(root, SHEN, "test")
    assert [i for i, _, _ in items] == ["a", "b"]
    assert all(img.is_file() and mask.is_file() for _, img, mask in items)


def test_person_items_rejects_unknown_dataset_and_split(tmp_path: Path) -> None:
    root = make_shen(tmp_path)
    with pytest.raises(ValueError):
        person_items(root, "nope", "test")
    with pytest.raises(ValueError):
        person_items(root, SHEN, "holdout")
    assert VIKRAM != SHEN


def test_evaluate_person_scores(tmp_path: Path) -> None:
    items = person_items(make_shen(tmp_path), SHEN, "test")

    def perfect(img: np.ndarray) -> np.ndarray:
        m = np.zeros(img.shape[:2], bool)
        m[:, :10] = True
        return m

    def wider(img: np.ndarray) -> np.ndarray:  # 10 true + 5 false positives per row: IoU 10/15
        m = np.zeros(img.shape[:2], bool)
        m[:, :15] = True
        return m

    s = evaluate_person(perfect, items)
    assert s.images == 2 and s.iou == pytest.approx(1.0) and s.pixel_accuracy == pytest.approx(1.0)
    w = evaluate_person(wider, items)
    assert w.iou == pytest.approx(10 / 15) and w.mean_image_iou == pytest.approx(10 / 15)
    assert w.pixel_accuracy == pytest.approx(25 / 30)
    assert w.as_dict()["person_iou"] == pytest.approx(0.6667)
    nothing = evaluate_person(lambda img: np.zeros(img.shape[:2], bool), items)
    assert nothing.iou == 0.0


def one_photo(root: Path, truth: np.ndarray) -> list[tuple[str, Path, Path]]:
    """A one-photo person set under ``root``: a black image the size of ``truth``, and ``truth`` as its mask."""
    (root / "images").mkdir()
    (root / "masks").mkdir()
    cv2.imwrite(str(root / "images" / "a.png"), np.zeros((*truth.shape, 3), np.uint8))
    cv2.imwrite(str(root / "masks" / "a.png"), truth)
    return [("a", root / "images" / "a.png", root / "masks" / "a.png")]


def test_evaluate_person_teacher_masks_skip_ignored_pixels(tmp_path: Path) -> None:
    """Teacher labels are 0/1/255: 255 is left out of every count, 1 is person (not read as black and white)."""
    truth = np.zeros((4, 10), np.uint8)
    truth[:, :4] = 1
    truth[:, 4:6] = 255  # uncertain: whatever the model says there does not count
    items = one_photo(tmp_path, truth)

    def person_left(img: np.ndarray) -> np.ndarray:
        m = np.zeros(img.shape[:2], bool)
        m[:, :6] = True
        return m

    s = evaluate_person(person_left, items, teacher=True)
    assert s.iou == pytest.approx(1.0) and s.pixel_accuracy == pytest.approx(1.0)
    # Read as 0/255 ground truth the 1s would be background and the 255s person: IoU 2/6.
    assert evaluate_person(person_left, items).iou == pytest.approx(2 / 6)


def test_evaluate_person_region_scores_around_the_subject(tmp_path: Path) -> None:
    """With region only the box around the labelled person counts: a second, unlabelled person far away does not."""
    truth = np.zeros((40, 100), np.uint8)
    truth[10:30, 10:30] = 255
    items = one_photo(tmp_path, truth)

    def two_people(img: np.ndarray) -> np.ndarray:
        m = np.zeros(img.shape[:2], bool)
        m[10:30, 10:30] = True
        m[10:30, 70:90] = True  # someone behind, unlabelled
        return m

    assert evaluate_person(two_people, items).iou == pytest.approx(0.5)
    assert evaluate_person(two_people, items, region=True).iou == pytest.approx(1.0)


def test_evaluate_person_rejects_wrong_size_predictions(tmp_path: Path) -> None:
    items = person_items(make_shen(tmp_path), SHEN, "test")
    with pytest.raises(ValueError):
        evaluate_person(lambda img: np.zeros((5, 5), bool), items)


# --- any model or folder of predictions on a dataset split ------------------------------------------------


def test_evaluate_segmenter_matches_hand_computation(tmp_path: Path, model_path: Path) -> None:
    ds = open_dataset(f"folder:{make_columns_dataset(tmp_path / 'ds')}")
    seg = Segmenter(model_path)
    report = evaluate_segmenter(seg.predict_classes, ds, model_classes=seg.classes, model_name="tiny")
    check_columns_scores(report)
    assert report["split"] == "test" and report["failed"] == 0 and report["model"] == "tiny"
    # The edges are 4 px apart: no boundary pixel matches at the default tolerance (1 px on 32x32) ...
    assert report["mean_boundary_f1"] == 0.0
    # ... and all of them at 4 px.
    near = evaluate_segmenter(seg.predict_classes, ds, model_classes=seg.classes, tolerance_px=4)
    assert near["per_class"]["person"]["boundary_f1"] == 1.0 and near["mean_boundary_f1"] == 1.0
    json.dumps(report, allow_nan=False)


def test_model_classes_are_matched_by_name(tmp_path: Path, model_path: Path, model3_path: Path) -> None:
    # The dataset stores person as 0 and background as 1: the report is the same.
    swapped = open_dataset(f"folder:{make_columns_dataset(tmp_path / 'swapped', classes=('person', 'background'))}")
    seg = Segmenter(model_path)
    check_columns_scores(evaluate_segmenter(seg.predict_classes, swapped, model_classes=seg.classes))
    # A 3-class model (car never predicted here) on a 2-class set: car counts as background.
    seg3 = Segmenter(model3_path)
    plain = open_dataset(f"folder:{make_columns_dataset(tmp_path / 'plain')}")
    report = evaluate_segmenter(seg3.predict_classes, plain, model_classes=seg3.classes)
    check_columns_scores(report)
    assert report["classes"] == ["background", "person"] and "car" in report["class_note"]


def test_classes_that_do_not_fit_are_one_error_naming_both_lists(tmp_path: Path, model_path: Path) -> None:
    ds = open_dataset(f"folder:{make_columns_dataset(tmp_path / 'fg', classes=('background', 'foreground'))}")
    with pytest.raises(EvaluationError) as e:
        evaluate_segmenter(lambda img: np.zeros(img.shape[:2], np.uint8), ds,
                           model_classes=["background", "person", "car"])
    msg = str(e.value)
    assert_one_line_naming(msg, "background, person, car")
    assert "background, foreground" in msg


def test_a_plain_binary_folder_matches_a_two_class_model_by_index(tmp_path: Path, model_path: Path) -> None:
    # 0/255 masks and no classes.txt: the dataset's classes are (background, foreground). Against a
    # (background, person) model this was "classes do not fit"; it is scored by index, with a note.
    root = make_columns_dataset(tmp_path / "plain", classes=("background", "person"))
    (root / "classes.txt").unlink()
    for m in (root / "masks").iterdir():
        cv2.imwrite(str(m), cv2.imread(str(m), cv2.IMREAD_UNCHANGED) * 255)
    ds = open_dataset(f"folder:{root}")
    assert ds.classes == ["background", "foreground"]
    seg = Segmenter(model_path)
    report = evaluate_segmenter(seg.predict_classes, ds, model_classes=seg.classes, predictions_out=tmp_path / "p")
    check_columns_scores(report)
    assert report["classes"] == ["background", "person"]
    assert "by index" in report["class_note"] and "background, person" in report["class_note"]
    assert set(np.unique(cv2.imread(str(tmp_path / "p" / "a.png"), cv2.IMREAD_UNCHANGED))) == {0, 255}


def test_match_classes_folds_extra_classes_into_background() -> None:
    m = match_classes(["background", "person"], ["background", "cat", "person"])
    assert m.classes == ["background", "person"] and m.folded == ["cat"]
    assert m.truth[[0, 1, 2, 255]].tolist() == [0, 0, 1, 255]  # cat -> background, ignore kept
    assert m.prediction[[0, 1]].tolist() == [0, 1]
    p = match_classes(["person", "background"], ["background", "person"])
    assert p.prediction[[0, 1]].tolist() == [1, 0] and p.folded == []


def test_a_failing_image_is_reported_and_the_rest_scored(tmp_path: Path, model_path: Path) -> None:
    root = make_columns_dataset(tmp_path / "ds")
    (root / "images" / "b.png").write_bytes(b"not an image")
    seg = Segmenter(model_path)
    errors: list[str] = []
    report = evaluate_segmenter(seg.predict_classes, open_dataset(f"folder:{root}"), model_classes=seg.classes,
                                on_error=errors.append)
    check_columns_scores(report, images=2)
    assert report["failed"] == 1 and len(errors) == 1 and report["errors"] == errors
    assert_one_line_naming(errors[0], root / "images" / "b.png")
    other = open_dataset(f"folder:{make_columns_dataset(tmp_path / 'x')}")
    wrong = evaluate_segmenter(lambda img: np.zeros((3, 3), np.uint8), other)
    assert wrong["failed"] == 3 and wrong["images"] == 0 and wrong["mean_iou"] is None
    assert "a.png" in wrong["errors"][0]


def test_predictions_out_round_trips_through_evaluate_predictions(tmp_path: Path, model_path: Path) -> None:
    ds = open_dataset(f"folder:{make_columns_dataset(tmp_path / 'ds')}")
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
    ds = open_dataset(f"folder:{make_columns_dataset(tmp_path / 'ds', classes=('background', 'person', 'car'))}")
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


def test_a_prediction_of_another_size_names_the_prediction_file(tmp_path: Path) -> None:
    """The prediction file is what to fix, not the dataset's image."""
    root = make_columns_dataset(tmp_path / "ds")
    ds = open_dataset(f"folder:{root}")
    pred = tmp_path / "pred"
    pred.mkdir()
    for i in ("a", "b", "c"):
        cv2.imwrite(str(pred / f"{i}.png"), np.zeros((32, 16 if i == "b" else 32), np.uint8))
    errors: list[str] = []
    r = evaluate_predictions(pred, ds, on_error=errors.append)
    assert r["images"] == 2 and r["failed"] == 1
    assert_one_line_naming(errors[0], pred / "b.png")
    assert "16x32" in errors[0] and "32x32" in errors[0]


def test_checkpoint_and_its_onnx_export_evaluate_the_same(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from segblur.training.export import checkpoint_metadata, export_onnx
    from segblur.training.predict import CheckpointError, CheckpointPredictor

    ckpt = tmp_path / "tiny.pt"
    net, cfg = save_tiny_checkpoint(ckpt, seed=0)
    onnx_path = export_onnx(net, tmp_path / "tiny.onnx", checkpoint_metadata({"config": cfg, "epoch": 0}, "tiny"))

    root = tmp_path / "ds"
    make_columns_dataset(root, size=48)
    rng = np.random.default_rng(0)
    for i in ("a", "b", "c"):  # textured photos of another size than the model's input, so the network's output varies
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


@pytest.mark.integration
def test_person_fast_on_real_photos_and_on_classes_that_do_not_fit(tmp_path: Path) -> None:
    shen = SHARED_DATA / "flickr-portraits-shen2016"
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
    lfw = SHARED_DATA / "lfw-parts"
    if lfw.is_dir():
        with pytest.raises(EvaluationError):
            evaluate_segmenter(seg.predict_classes, open_dataset(f"lfw:{lfw}"), model_classes=seg.classes)


def test_evaluate_person_splits_the_loss_into_edge_and_far_errors(tmp_path: Path) -> None:
    """A one-pixel shift of the outline is an edge error; a kept blob away from the person is a far one."""
    truth = np.zeros((100, 100), np.uint8)
    truth[30:70, 30:70] = 255
    items = one_photo(tmp_path, truth)

    def shifted_with_blob(img: np.ndarray) -> np.ndarray:
        m = np.zeros(img.shape[:2], bool)
        m[30:70, 31:71] = True  # 40 missed on the left edge, 40 extra on the right
        m[0:5, 0:10] = True  # 50 pixels far from the outline (the band is 1 % of 141 px: 1.4 px)
        return m

    s = evaluate_person(shifted_with_blob, items)
    union = 40 * 41 + 50
    assert s.iou == pytest.approx(39 * 40 / union)
    assert s.edge_loss == pytest.approx(80 / union) and s.far_loss == pytest.approx(50 / union)
    assert s.edge_loss + s.far_loss == pytest.approx(1 - s.iou)
    assert set(s.as_dict()) >= {"edge_loss", "far_loss"}
    perfect = evaluate_person(lambda img: truth > 127, items)
    assert perfect.edge_loss == 0 and perfect.far_loss == 0
