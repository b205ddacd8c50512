"""eval/predictions.py: prediction mask files, read as class ids (0/255 for two classes)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_one_line_naming

from segblur.eval.predictions import prediction_image, read_prediction
from segblur.media.images import ImageError


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


def test_prediction_image_is_0_255_for_two_classes_and_the_ids_otherwise() -> None:
    ids = np.array([[0, 1], [1, 0]], np.uint8)
    assert prediction_image(ids, 2).tolist() == [[0, 255], [255, 0]]
    assert prediction_image(ids, 3).tolist() == ids.tolist()
