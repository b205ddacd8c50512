"""segblur.metrics: confusion-matrix metrics against hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from segblur.metrics import ConfusionMatrix, binary_iou

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
