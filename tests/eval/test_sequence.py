"""Sequence evaluation: per-frame IoU and boundary F1, the temporal error against the truth, sequences on disk."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import GREEN, RED, assert_one_line_naming, make_sequence_folder, moving_square_mask

from segblur import Pipeline
from segblur.eval.sequence import (
    SequenceError,
    SequenceMetrics,
    alpha_changes,
    evaluate_sequence,
    format_sequence,
    open_sequence,
    read_truth,
    score_sequence,
)


def square(i: int, h: int = 40, w: int = 60, size: int = 12, step: int = 4) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[14:14 + size, 4 + step * i:4 + step * i + size] = True
    return m


def test_a_perfect_prediction_scores_one_and_no_temporal_error() -> None:
    truths = [square(i) for i in range(5)]
    r = score_sequence([t.astype(np.float32) for t in truths], truths, "frame")
    assert r["frames"] == 5 and r["iou"] == r["iou_min"] == 1.0 and r["boundary_f1"] == 1.0
    assert r["temporal_error"] == 0.0 and len(r["per_frame_temporal_error"]) == 4


def test_temporal_error_is_the_difference_of_the_changes() -> None:
    truths = [square(i) for i in range(4)]
    late = [truths[0]] + truths[:-1]  # right one frame late
    r = score_sequence([t.astype(np.float32) for t in late], truths, "frame")
    # Each step the truth gains 4 columns and loses 4 (96 pixels change); one frame late the mask did the same one
    # step earlier, so the changes differ on 192 of the 2400 pixels per pair, except the first pair (mask still).
    expected = [96 / 2400 * 255, 192 / 2400 * 255, 192 / 2400 * 255]
    assert r["per_frame_temporal_error"] == pytest.approx(expected, abs=1e-3)
    # A mask that never changes misses exactly the truth's own changes.
    still = score_sequence([truths[0].astype(np.float32)] * 4, truths, "frame")
    assert still["temporal_error"] == pytest.approx(96 / 2400 * 255, abs=1e-3)


def test_subject_region_leaves_out_people_the_truth_does_not_label() -> None:
    truth = square(0)
    pred = truth.astype(np.float32)
    pred[:, 50:] = 1.0  # a spectator, well away from the subject
    frame = SequenceMetrics("frame")
    subject = SequenceMetrics("subject")
    for m in (frame, subject):
        m.update(pred, truth)
    assert subject.compute()["iou"] == 1.0 and frame.compute()["iou"] < 0.5


def test_counts_and_sizes_must_match() -> None:
    with pytest.raises(SequenceError, match="2 frames paired"):
        score_sequence([np.zeros((4, 4))] * 2, [np.zeros((4, 4), bool)] * 3)
    m = SequenceMetrics()
    with pytest.raises(SequenceError):
        m.update(np.zeros((4, 4)), np.zeros((4, 5), bool))
    with pytest.raises(SequenceError):
        SequenceMetrics().compute()
    with pytest.raises(ValueError):
        SequenceMetrics("everywhere")


def test_alpha_changes_is_the_flicker_figure() -> None:
    a, b = np.zeros((10, 10), np.float32), np.zeros((10, 10), np.float32)
    b[:, :2] = 1.0  # 20 % of the pixels flip, mean change 0.2
    r = alpha_changes([a, b, a, b], settle=0)
    assert r["mean_abs_change"] == pytest.approx(0.2 * 255) and r["flipped_pct"] == pytest.approx(20.0)
    assert alpha_changes([a, a, b], settle=2)["flipped_pct"] == pytest.approx(20.0)  # the first pair left out
    with pytest.raises(SequenceError):
        alpha_changes([a], settle=0)


def test_a_frame_folder_is_run_in_order_through_the_pipeline(tmp_path: Path, model_path: Path) -> None:
    source = open_sequence(make_sequence_folder(tmp_path / "seq"))
    assert len(source) == 8 and [m.name for m in source.masks][:2] == ["f-000.png", "f-001.png"]
    pipe = Pipeline(model_path, temporal=True)
    r = evaluate_sequence(pipe, source)
    assert r["frames"] == 8 and r["iou"] > 0.8 and r["temporal_error"] < 10
    assert set(r["still_flicker"]) == {"mean_abs_change", "flipped_pct"}
    text = format_sequence(r)
    assert "8 frames" in text and "temporal error" in text and "flicker" in text


def test_the_settings_are_printed_as_words() -> None:
    report = {"model": "m", "settings": {"temporal": "lookahead 8", "subject": "all", "follow": True}, "frames": 2,
              "region": "frame", "iou": 1.0, "iou_min": 1.0, "iou_std": 0.0, "boundary_f1": 1.0,
              "boundary_tolerance_px": 1.0, "temporal_error": 0.0}
    assert "settings: temporal lookahead 8, subject all, follow on\n" in format_sequence(report)


def test_the_still_flicker_pass_has_a_progress_line(tmp_path: Path, model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    evaluate_sequence(Pipeline(model_path, temporal=True), open_sequence(make_sequence_folder(tmp_path / "s", 3)),
                      show_progress=True)
    err = capsys.readouterr().err
    assert "3/3 frames" in err and "60/60 still frames (100%)" in err and "still frames/s" in err and "ETA" in err


def test_sequence_problems_are_one_line(tmp_path: Path) -> None:
    root = make_sequence_folder(tmp_path / "seq", 3)
    (root / "masks" / "f-001.png").unlink()
    with pytest.raises(SequenceError) as e:
        open_sequence(root)
    assert_one_line_naming(str(e.value), root / "masks" / "f-001.png")
    for bad in (tmp_path / "nothing", root / "images" / "f-000.jpg"):
        with pytest.raises(SequenceError) as e:
            open_sequence(bad)  # missing; a file that is not a video given without masks
        assert_one_line_naming(str(e.value), bad)
    with pytest.raises(SequenceError):
        open_sequence(root, masks=root / "masks")  # a frame folder has its own masks


def test_a_frame_or_mask_of_another_size_is_named(tmp_path: Path, model_path: Path) -> None:
    """A mask that differs from its frame names the mask; a frame that differs from the first names the frame."""
    def halve(path: Path) -> None:
        im = cv2.imread(str(path))
        cv2.imwrite(str(path), cv2.resize(im, (im.shape[1] // 2, im.shape[0] // 2)))

    root = make_sequence_folder(tmp_path / "mask", 4)
    halve(root / "masks" / "f-002.png")
    with pytest.raises(SequenceError) as e:
        evaluate_sequence(Pipeline(model_path, temporal=True), open_sequence(root), flicker=False)
    assert_one_line_naming(str(e.value), root / "masks" / "f-002.png")
    root = make_sequence_folder(tmp_path / "frame", 4)
    halve(root / "images" / "f-002.jpg")
    halve(root / "masks" / "f-002.png")
    with pytest.raises(SequenceError) as e:
        evaluate_sequence(Pipeline(model_path, temporal=True), open_sequence(root), flicker=False)
    assert_one_line_naming(str(e.value), root / "images" / "f-002.jpg")


def test_a_video_with_a_mask_folder(tmp_path: Path, model_path: Path) -> None:
    pytest.importorskip("av")
    from segblur.media.video import VideoWriter

    masks = tmp_path / "masks"
    masks.mkdir()
    with VideoWriter(tmp_path / "clip.mp4", 64, 48, 10) as w:
        for i in range(6):
            m = moving_square_mask(i)
            img = np.empty((48, 64, 3), np.uint8)
            img[:] = GREEN
            img[m] = RED
            w.write(img)
            cv2.imwrite(str(masks / f"{i + 1:06d}.png"), m.astype(np.uint8) * 255)
    r = evaluate_sequence(Pipeline(model_path, temporal=True), open_sequence(tmp_path / "clip.mp4", masks),
                          flicker=False)
    assert r["frames"] == 6 and r["iou"] > 0.8 and "still_flicker" not in r
    (masks / "000006.png").unlink()
    with pytest.raises(SequenceError, match="more frames than the 5 masks"):
        evaluate_sequence(Pipeline(model_path), open_sequence(tmp_path / "clip.mp4", masks))


def test_read_truth_takes_palette_indices_and_grey(tmp_path: Path) -> None:
    m = np.zeros((6, 6), np.uint8)
    m[1:3, 1:3] = 255
    cv2.imwrite(str(tmp_path / "m.png"), m)
    np.testing.assert_array_equal(read_truth(tmp_path / "m.png"), m > 0)
