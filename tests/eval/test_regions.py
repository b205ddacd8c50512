"""Scoring in a region around the subject (segblur.eval.regions)."""

from __future__ import annotations

import numpy as np
import pytest

from segblur.eval.regions import SUBJECT_GROW, crop_to_subject, subject_box, subject_region


def test_subject_box_is_the_bounding_box_grown_by_a_tenth_of_its_size() -> None:
    truth = np.zeros((100, 200), np.uint8)
    truth[20:60, 50:150] = 255  # 100 wide, 40 tall
    assert SUBJECT_GROW == 0.1
    assert subject_box(truth) == (45, 18, 155, 62)  # 5 and 2 pixels on each side
    assert subject_box(truth, grow=0.0) == (50, 20, 150, 60)
    assert subject_box(truth, grow=10.0) == (0, 0, 200, 100)  # clipped to the image
    assert subject_box(np.zeros((10, 10), bool)) is None


def test_region_and_crop_agree_and_leave_people_outside_the_region_out() -> None:
    truth = np.zeros((100, 200), bool)
    truth[20:60, 50:150] = True
    pred = truth.copy()
    pred[70:90, 170:190] = True  # a spectator the ground truth does not label
    region = subject_region(truth)
    assert region.sum() == 110 * 44
    t, p = crop_to_subject(truth, pred)
    assert t.shape == p.shape == (44, 110) and (t == p).all()
    t, p = crop_to_subject(np.zeros((5, 5), bool), np.ones((5, 5), bool))  # no subject: scored whole
    assert t.shape == (5, 5) and p.all()
    with pytest.raises(ValueError, match="differs"):
        crop_to_subject(truth, np.zeros((10, 10), bool))
