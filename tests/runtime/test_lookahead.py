"""Lookahead: the model works on submitted frames in threads; the results are those of the segmenter itself."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from segblur import Pipeline, Segmenter
from segblur.runtime.lookahead import Lookahead


def frames(n: int, h: int = 40, w: int = 56) -> list[np.ndarray]:
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_submitted_frames_are_answered_from_the_work_done_ahead(model_path: Path) -> None:
    seg = Segmenter(model_path)
    imgs = frames(6)
    with Lookahead(seg, workers=2) as ahead:
        for img in imgs:
            ahead.submit(img)
        got = [ahead.predict_lowres(img) for img in imgs]
        assert ahead.hits == 6
        assert ahead.info is seg.info and ahead.keep == seg.keep  # the rest is the segmenter's
    for g, img in zip(got, imgs):
        np.testing.assert_array_equal(g, seg.predict_lowres(img))


def test_a_frame_not_submitted_or_skipped_is_segmented_there_and_then(model_path: Path) -> None:
    seg = Segmenter(model_path)
    a, b, c = frames(3)
    with Lookahead(seg) as ahead:
        ahead.submit(a)
        ahead.submit(b)
        np.testing.assert_array_equal(ahead.predict_lowres(b), seg.predict_lowres(b))  # a was skipped
        np.testing.assert_array_equal(ahead.predict_lowres(c), seg.predict_lowres(c))  # never submitted
        np.testing.assert_array_equal(ahead.predict_lowres(a.copy()), seg.predict_lowres(a))
        assert ahead.hits == 1
    with pytest.raises(ValueError, match="workers"):
        Lookahead(seg, workers=0)


def test_a_pipeline_with_a_lookahead_gives_the_same_frames(model_path: Path) -> None:
    imgs = frames(8)
    pipe, reference = Pipeline(model_path, temporal=True), Pipeline(model_path, temporal=True)
    plain = [reference.process(img) for img in imgs]
    with Lookahead(pipe.segmenter, workers=3) as ahead:
        pipe.segmenter = ahead
        for img in imgs:
            ahead.submit(img)
        ahead_out = [pipe.process(img) for img in imgs]
    assert all(np.array_equal(x, y) for x, y in zip(plain, ahead_out))


def test_one_segmenter_predicts_in_many_threads_at_once(model_path: Path) -> None:
    seg = Segmenter(model_path)
    imgs = frames(16, 70, 90)
    expected = [seg.predict_lowres(img) for img in imgs]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(seg.predict_lowres, imgs))
    assert all(np.array_equal(x, y) for x, y in zip(got, expected))


def test_a_crop_is_worked_out_ahead_and_another_request_leaves_the_work_in_place(model_path: Path) -> None:
    seg = Segmenter(model_path)
    a, b = frames(2, 60, 80)
    box = (10, 5, 60, 55)
    with Lookahead(seg) as ahead:
        ahead.submit(a, box)
        ahead.submit(b, box)
        np.testing.assert_array_equal(ahead.predict_lowres(a), seg.predict_lowres(a))  # whole frame: not submitted
        np.testing.assert_array_equal(ahead.predict_lowres(a, box=box), seg.predict_lowres(a[5:55, 10:60]))
        np.testing.assert_array_equal(ahead.predict_lowres(b, box=box), seg.predict_lowres(b, box=box))
        assert ahead.hits == 2


def test_a_pipeline_following_the_subject_with_frames_in_flight_gives_the_same_frames(model_path: Path) -> None:
    from segblur.runtime.subject import SubjectConfig

    imgs = []
    for i in range(8):  # a red (person) square moving on green, small in the frame: the crop follows it
        img = np.zeros((120, 160, 3), np.uint8)
        img[..., 1] = 200
        img[40:80, 20 + 8 * i:50 + 8 * i] = (255, 0, 0)
        imgs.append(img)
    make = lambda: Pipeline(model_path, temporal=True, subject=SubjectConfig(follow=True))  # noqa: E731
    pipe, reference = make(), make()
    plain = [reference.process(img) for img in imgs]
    with Lookahead(pipe.segmenter, workers=2) as ahead:
        pipe.segmenter = ahead
        out = []
        for img in imgs:
            ahead.submit(img, pipe.next_box(img.shape))  # what process_video's prefetch does, one frame ahead
            out.append(pipe.process(img))
        assert ahead.hits >= 6  # the crop held still: worked out ahead
    assert all(np.array_equal(x, y) for x, y in zip(plain, out))
