"""segblur.evaluation on a tiny synthetic dataset layout (never the real data)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from segblur.eval.evaluation import SHEN, VIKRAM, evaluate_person, person_items


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


def test_evaluate_person_rejects_wrong_size_predictions(tmp_path: Path) -> None:
    items = person_items(make_shen(tmp_path), SHEN, "test")
    with pytest.raises(ValueError):
        evaluate_person(lambda img: np.zeros((5, 5), bool), items)
