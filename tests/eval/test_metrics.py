"""segblur.metrics: confusion-matrix metrics against hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segblur.eval.metrics import (
    BoundaryF1,
    ConfusionMatrix,
    SegmentationMetrics,
    binary_iou,
    boundary_tolerance,
    class_boundary,
    format_table,
)

# 8 pixels, 3 classes.            truth: 0 0 0 1 1 1 2 2
TARGET = np.array([[0, 0, 0, 1], [1, 1, 2, 2]])
PRED = np.array([[0, 0, 1, 1], [1, 2, 2, 0]])  # pred:  0 0 1 1 1 2 2 0
# Confusion matrix (rows truth, cols prediction):
#   [[2, 1, 0],     t0 = 3
#    [0, 2, 1],     t1 = 3
#    [1, 0, 1]]     t2 = 2        column sums 3, 3, 2
EXPECTED_MAT = [[2, 1, 0], [0, 2, 1], [1, 0, 1]]


def test_confusion_matrix_counts() -> None:
    cm = ConfusionMatrix(3)
    cm.update(TARGET, PRED)
    assert cm.mat.tolist() == EXPECTED_MAT


def test_metrics_match_hand_computation() -> None:
    cm = ConfusionMatrix(3)
    cm.update(TARGET, PRED)
    m = cm.compute(["bg", "person", "car"])
    assert m["pixels"] == 8
    assert m["pixel_accuracy"] == pytest.approx(5 / 8)  # diagonal 2 + 2 + 1
    assert m["per_class_accuracy"] == pytest.approx({"bg": 2 / 3, "person": 2 / 3, "car": 1 / 2})
    assert m["mean_pixel_accuracy"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 2) / 3)  # 11/18
    # IoU_i = n_ii / (t_i + p_i - n_ii): 2/(3+3-2), 2/(3+3-2), 1/(2+2-1)
    assert m["per_class_iou"] == pytest.approx({"bg": 0.5, "person": 0.5, "car": 1 / 3})
    assert m["mean_iou"] == pytest.approx(4 / 9)
    assert m["frequency_weighted_iou"] == pytest.approx((3 * 0.5 + 3 * 0.5 + 2 / 3) / 8)  # 11/24


def test_default_class_names_are_indices() -> None:
    cm = ConfusionMatrix(3)
    cm.update(TARGET, PRED)
    assert set(cm.compute()["per_class_iou"]) == {"0", "1", "2"}


def test_updates_accumulate_and_reset_clears() -> None:
    cm = ConfusionMatrix(3)
    cm.update(TARGET, PRED)
    cm.update(TARGET, PRED)
    assert cm.mat.tolist() == (2 * np.array(EXPECTED_MAT)).tolist()
    assert cm.compute()["pixel_accuracy"] == pytest.approx(5 / 8)
    cm.reset()
    assert cm.mat.sum() == 0
    assert math.isnan(cm.compute()["pixel_accuracy"])


def test_ignore_index_pixels_are_skipped() -> None:
    cm = ConfusionMatrix(3, ignore_index=255)
    target = np.append(TARGET.ravel(), [255, 255])
    pred = np.append(PRED.ravel(), [0, 9])  # even an out-of-range prediction is fine where ignored
    cm.update(target, pred)
    assert cm.mat.tolist() == EXPECTED_MAT
    assert cm.compute()["pixels"] == 8


def test_ignore_index_can_be_a_real_class_when_disabled() -> None:
    cm = ConfusionMatrix(3, ignore_index=None)
    cm.update(np.array([2, 2]), np.array([2, 0]))
    assert cm.mat[2].tolist() == [1, 0, 1]
    cm2 = ConfusionMatrix(3, ignore_index=2)
    cm2.update(np.array([2, 2, 0]), np.array([2, 0, 0]))
    assert cm2.mat.tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 0]]


def test_absent_class_is_none_and_left_out_of_means() -> None:
    cm = ConfusionMatrix(4)  # class 3 never occurs in truth or prediction
    cm.update(TARGET, PRED)
    m = cm.compute(["bg", "person", "car", "bike"])
    assert m["per_class_iou"]["bike"] is None
    assert m["per_class_accuracy"]["bike"] is None
    assert m["mean_iou"] == pytest.approx(4 / 9)
    assert m["mean_pixel_accuracy"] == pytest.approx(11 / 18)
    assert m["frequency_weighted_iou"] == pytest.approx(11 / 24)


def test_class_predicted_but_absent_from_truth_counts_as_zero_iou() -> None:
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 0, 1, 1]), np.array([0, 2, 1, 1]))
    m = cm.compute()
    assert m["per_class_iou"]["2"] == 0.0  # predicted once, never true: IoU 0, not left out
    assert m["per_class_accuracy"]["2"] is None  # no ground-truth pixels: accuracy undefined
    assert m["mean_iou"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m["mean_pixel_accuracy"] == pytest.approx((1 / 2 + 1) / 2)


def test_metrics_are_json_ready() -> None:
    import json

    cm = ConfusionMatrix(4)
    cm.update(TARGET, PRED)
    json.dumps(cm.compute(), allow_nan=False)


def test_mismatched_shapes_raise() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError):
        cm.update(np.zeros((2, 3), int), np.zeros((3, 3), int))


def test_prediction_out_of_range_raises() -> None:
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError):
        cm.update(np.array([0, 1]), np.array([0, 3]))


def test_num_classes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ConfusionMatrix(0)


def test_boolean_masks_work_as_two_classes() -> None:
    cm = ConfusionMatrix(2)
    cm.update(np.array([True, True, False, False]), np.array([True, False, True, False]))
    assert cm.mat.tolist() == [[1, 1], [1, 1]]
    assert cm.compute()["per_class_iou"]["1"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(("target", "pred", "iou"), [
    ([1, 1, 0, 0], [1, 0, 1, 0], 1 / 3),
    ([1, 1, 1, 0], [1, 1, 1, 0], 1.0),
    ([1, 0, 0, 0], [0, 1, 0, 0], 0.0),
    ([0, 0, 0, 0], [0, 0, 0, 0], 1.0),  # both empty
])
def test_binary_iou(target: list[int], pred: list[int], iou: float) -> None:
    assert binary_iou(np.array(target), np.array(pred)) == pytest.approx(iou)


def test_binary_iou_on_2d_masks() -> None:
    t = np.zeros((4, 4), bool)
    t[:2] = True  # 8 pixels
    p = np.zeros((4, 4), bool)
    p[1:3] = True  # 8 pixels, 4 shared
    assert binary_iou(t, p) == pytest.approx(4 / 12)


def test_mean_accuracy_averages_recall_over_classes_in_the_truth_only() -> None:
    # truth 0 0 1 1, pred 0 2 2 2: class 2 is predicted but absent from the truth.
    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 0, 1, 1]), np.array([0, 2, 2, 2]))
    m = cm.compute()
    assert m["mean_pixel_accuracy"] == pytest.approx((1 / 2 + 0) / 2)  # recall of 0 and 1, not of 2
    assert m["per_class_iou"] == pytest.approx({"0": 1 / 2, "1": 0.0, "2": 0.0})  # 2: 0 / (0 + 3 - 0)
    assert m["mean_iou"] == pytest.approx(1 / 6)
    assert m["frequency_weighted_iou"] == pytest.approx((2 * 1 / 2 + 2 * 0) / 4)


def test_uint8_truth_with_255_ignore_and_an_all_ignored_image() -> None:
    cm = ConfusionMatrix(2)
    cm.update(np.array([[255, 255], [255, 255]], np.uint8), np.array([[1, 0], [1, 0]], np.uint8))
    assert cm.mat.sum() == 0
    m = cm.compute()
    assert math.isnan(m["pixel_accuracy"]) and math.isnan(m["mean_iou"])
    assert m["per_class_iou"] == {"0": None, "1": None}
    cm.update(np.array([1, 255, 0], np.uint8), np.array([1, 1, 1], np.uint8))
    assert cm.mat.tolist() == [[0, 1], [0, 1]]


# --- boundary F1 -----------------------------------------------------------------------------------------

def left_part(h: int, w: int, cols: int | list[int]) -> np.ndarray:
    """Label map: class 1 in columns [0, cols[row]) of each row, class 0 elsewhere."""
    widths = [cols] * h if isinstance(cols, int) else cols
    m = np.zeros((h, w), np.uint8)
    for y, c in enumerate(widths):
        m[y, :c] = 1
    return m


def test_class_boundary_is_the_inner_ring_and_not_the_image_edge() -> None:
    m = np.zeros((8, 8), np.uint8)
    m[2:6, 2:6] = 1
    b = class_boundary(m, 1)
    assert b.sum() == 12  # the 4x4 square's ring; its 2x2 inside is not boundary
    assert not b[3:5, 3:5].any() and b[2, 2] and b[5, 5]
    assert class_boundary(m, 0).sum() == 16  # the ring just outside the square (4-neighbours only: no corners)
    assert not class_boundary(np.ones((5, 5), np.uint8), 1).any()  # the image edge is no boundary
    half = left_part(4, 6, 3)
    assert class_boundary(half, 1).tolist() == (np.arange(6)[None].repeat(4, 0) == 2).tolist()


def test_boundary_tolerance_defaults_to_a_fraction_of_the_diagonal() -> None:
    assert boundary_tolerance((300, 400)) == pytest.approx(0.0075 * 500)
    assert boundary_tolerance((20, 20)) == 1.0  # at least one pixel
    assert boundary_tolerance((300, 400), tolerance_px=2) == 2.0
    assert boundary_tolerance((300, 400), tolerance=0.01) == pytest.approx(5.0)


def test_boundary_f1_perfect_and_shifted_edges() -> None:
    truth = left_part(10, 20, 10)  # class 1 boundary: column 9; class 0 boundary: column 10
    bf = BoundaryF1(2, tolerance_px=1)
    bf.update(truth, truth)
    r = bf.compute(["bg", "fg"])
    assert r["per_class_boundary_f1"] == {"bg": 1.0, "fg": 1.0} and r["mean_boundary_f1"] == 1.0
    shifted = left_part(10, 20, 13)  # edges 3 px to the right
    for tol, expected in ((2, 0.0), (3, 1.0)):
        bf = BoundaryF1(2, tolerance_px=tol)
        bf.update(truth, shifted)
        r = bf.compute()
        assert r["per_class_boundary_f1"] == {"0": expected, "1": expected}
        assert r["per_class_boundary_precision"]["1"] == expected and r["per_class_boundary_recall"]["1"] == expected


def test_boundary_f1_partial_match_by_hand() -> None:
    # Truth: class 1 in columns 0..9 of 10 rows. Prediction: same for rows 0-4, columns 0..14 for rows 5-9.
    truth = left_part(10, 20, 10)
    pred = left_part(10, 20, [10] * 5 + [15] * 5)
    # Predicted class-1 boundary: (0-4, 9), (5-9, 14) and the step (5, 10..13): 14 pixels. Within 1 px of the
    # true boundary (column 9): (0-4, 9) and (5, 10) -> 6. True boundary pixels with a predicted one within
    # 1 px: rows 0-4 and (5, 9) -> 6 of 10. P = 3/7, R = 3/5, F1 = 2PR/(P+R) = 1/2. Class 0 is the mirror image.
    bf = BoundaryF1(2, tolerance_px=1)
    bf.update(truth, pred)
    assert bf.counts[:, 1].tolist() == [14, 6, 10, 6]
    assert bf.counts[:, 0].tolist() == [14, 6, 10, 6]
    r = bf.compute(["bg", "fg"])
    assert r["per_class_boundary_precision"]["fg"] == pytest.approx(3 / 7)
    assert r["per_class_boundary_recall"]["fg"] == pytest.approx(3 / 5)
    assert r["per_class_boundary_f1"]["fg"] == pytest.approx(0.5)
    assert r["mean_boundary_f1"] == pytest.approx(0.5)


def test_boundary_counts_accumulate_over_images() -> None:
    truth = left_part(10, 20, 10)
    bf = BoundaryF1(2, tolerance_px=1)
    bf.update(truth, truth)  # 10 of 10 matched each way
    bf.update(truth, left_part(10, 20, 15))  # 0 of 10
    r = bf.compute()
    assert bf.counts[:, 1].tolist() == [20, 10, 20, 10]
    assert r["per_class_boundary_precision"]["1"] == pytest.approx(0.5)
    assert r["per_class_boundary_f1"]["1"] == pytest.approx(0.5)  # not the mean of per-image F1s (also 0.5 here)
    bf.reset()
    assert bf.counts.sum() == 0


def test_boundary_f1_undefined_and_one_sided_classes() -> None:
    truth = left_part(6, 8, 4)
    pred = truth.copy()
    pred[0, 7] = 2  # class 2 only predicted: 1 boundary pixel, none true
    bf = BoundaryF1(4, tolerance_px=1)
    bf.update(truth, pred)
    r = bf.compute()
    assert r["per_class_boundary_precision"]["2"] == 0.0 and r["per_class_boundary_recall"]["2"] is None
    assert r["per_class_boundary_f1"]["2"] == 0.0
    assert r["per_class_boundary_f1"]["3"] is None  # never seen: undefined and left out of the mean
    # Class 0 gains two predicted boundary pixels around (0, 7), both > 1 px from its true edge (column 4):
    # P = 6/8, R = 6/6, F1 = 6/7. Class 1 is perfect.
    assert r["per_class_boundary_f1"]["0"] == pytest.approx(6 / 7) and r["per_class_boundary_f1"]["1"] == 1.0
    assert r["mean_boundary_f1"] == pytest.approx((6 / 7 + 1 + 0) / 3)
    only_truth = BoundaryF1(2, tolerance_px=1)
    only_truth.update(truth, np.zeros_like(truth))  # nothing predicted for class 1
    r = only_truth.compute()
    assert r["per_class_boundary_recall"]["1"] == 0.0 and r["per_class_boundary_precision"]["1"] is None
    assert r["per_class_boundary_f1"]["1"] == 0.0


def test_boundary_f1_ignores_predicted_edges_on_ignored_pixels() -> None:
    # Truth: class 1 in columns 0..7, an ignored band in columns 8..11, class 0 from column 12.
    truth = left_part(10, 20, 8)
    truth[:, 8:12] = 255
    pred = left_part(10, 20, 10)  # the predicted edge lies inside the ignored band
    bf = BoundaryF1(2, tolerance_px=1)
    bf.update(truth, pred)
    # True boundaries: column 7 (class 1, beside the band) and column 12 (class 0). The predicted ones
    # (columns 9 and 10) are on ignored pixels: left out of the precision (undefined), but at 2 px from
    # the true ones they find them when the tolerance allows (recall 0 at 1 px, 1 at 3 px).
    assert bf.counts[:, 1].tolist() == [0, 0, 10, 0]
    assert bf.counts[:, 0].tolist() == [0, 0, 10, 0]
    bf2 = BoundaryF1(2, tolerance_px=3)
    bf2.update(truth, pred)
    assert bf2.counts[:, 1].tolist() == [0, 0, 10, 10]
    assert bf2.counts[:, 0].tolist() == [0, 0, 10, 10]
    r = bf2.compute()
    assert r["per_class_boundary_precision"]["1"] is None and r["per_class_boundary_recall"]["1"] == 1.0


def test_boundary_f1_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        BoundaryF1(2).update(np.zeros((4, 4), np.uint8), np.zeros((4, 5), np.uint8))
    with pytest.raises(ValueError):
        BoundaryF1(2, tolerance_px=-1)


def test_segmentation_metrics_report_and_table() -> None:
    import json

    sm = SegmentationMetrics(["bg", "fg", "unused"], tolerance_px=1)
    truth = left_part(10, 20, 10)
    sm.update(truth, left_part(10, 20, [10] * 5 + [15] * 5))
    r = sm.compute()
    json.dumps(r, allow_nan=False)
    assert r["images"] == 1 and r["pixels"] == 200
    assert r["per_class"]["fg"]["iou"] == pytest.approx(100 / 125)  # 100 true, 125 predicted, all true found
    assert r["per_class"]["fg"]["boundary_f1"] == pytest.approx(0.5)
    assert r["per_class"]["unused"] == {"iou": None, "accuracy": None, "boundary_precision": None,
                                        "boundary_recall": None, "boundary_f1": None, "pixels": 0,
                                        "predicted_pixels": 0}
    assert r["mean_iou"] == pytest.approx((100 / 125 + 75 / 100) / 2)
    assert r["mean_boundary_f1"] == pytest.approx(0.5)
    table = format_table(r)
    assert "fg" in table and "0.8000" in table and "0.5000" in table and "unused" in table
    assert "mean IoU 0.7750" in table and "1 px" in table
    with pytest.raises(ValueError):
        sm.update(truth, truth[:, :5])


def test_segmentation_metrics_empty_report_is_json_ready() -> None:
    import json

    r = SegmentationMetrics(["a", "b"]).compute()
    assert r["mean_iou"] is None and r["mean_boundary_f1"] is None and r["images"] == 0
    json.dumps(r, allow_nan=False)
    assert "0 images" in format_table(r)
