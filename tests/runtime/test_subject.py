"""Subject focus: the main person is kept, the crop follows the subject and is re-found when lost."""

from __future__ import annotations

import numpy as np
import pytest

from segblur.runtime.subject import SubjectConfig, SubjectTracker

FRAME = (480, 640, 3)
MODEL = (32, 32)


def blobs(*boxes: tuple[int, int, int, int], h: int = 48, w: int = 64) -> np.ndarray:
    """A probability map (h x w) with 0.9 inside each (x0, y0, x1, y1) box (map cells)."""
    p = np.zeros((h, w), np.float32)
    for x0, y0, x1, y1 in boxes:
        p[y0:y1, x0:x1] = 0.9
    return p


def test_main_keeps_the_central_largest_person_and_sticks_to_them() -> None:
    tr = SubjectTracker(SubjectConfig("main"), MODEL)
    centre, corner = (26, 14, 38, 40), (0, 0, 8, 12)
    out = tr.observe(blobs(centre, corner), None, FRAME)
    assert out[20, 30] > 0.5 and not out[:12, :8].any()
    # Someone bigger steps in beside; the main person (still where they were) stays the one kept.
    out = tr.observe(blobs((27, 14, 39, 40), (42, 2, 64, 46)), None, FRAME)
    assert out[20, 30] > 0.5 and not out[:, 44:].any()
    tr.reset()  # a new scene: the best score wins again, here a big person a little off centre over a small one
    out = tr.observe(blobs((24, 20, 28, 28), (36, 4, 60, 46)), None, FRAME)
    assert out[20, 50] > 0.5 and not out[24, 26]


def test_all_keeps_everyone_and_returns_the_map_unchanged() -> None:
    tr = SubjectTracker(SubjectConfig("all"), MODEL)
    p = blobs((26, 14, 38, 40), (0, 0, 8, 12))
    assert tr.observe(p, None, FRAME) is p


def test_follow_plans_a_crop_around_the_subject() -> None:
    cfg = SubjectConfig(follow=True, margin=0.1, aspect=0.75)
    tr = SubjectTracker(cfg, MODEL)
    assert tr.crop(FRAME) is None  # nothing known yet: the whole frame
    tr.observe(blobs((28, 12, 36, 36)), None, FRAME)  # 80 x 240 px person in a 640 x 480 frame (10 px cells)
    x0, y0, x1, y1 = tr.crop(FRAME)
    assert (y1 - y0) == pytest.approx(240 * 1.2 * 1.1, abs=2)  # margin, and room to move (HOLD)
    assert (x1 - x0) == pytest.approx(0.75 * (y1 - y0), abs=2)
    assert (x0 + x1) / 2 == pytest.approx(320, abs=2) and (y0 + y1) / 2 == pytest.approx(240, abs=2)
    # The person (280..360 x 120..360 px) moves 8 px right: the crop holds still.
    box = tr.crop(FRAME)
    cw, ch = (box[2] - box[0]) / 32, (box[3] - box[1]) / 48  # the crop's own 32 x 48 grid
    person = (round((288 - box[0]) / cw), round((120 - box[1]) / ch), round((368 - box[0]) / cw),
              round((360 - box[1]) / ch))
    tr.observe(blobs(person, h=48, w=32), box, FRAME)
    assert tr.crop(FRAME) == box
    # Lost: the whole frame is looked at next.
    tr.observe(np.zeros((48, 32), np.float32), box, FRAME)
    assert tr.crop(FRAME) is None


def test_follow_looks_at_the_whole_frame_when_the_subject_fills_it_and_now_and_then_for_someone_new() -> None:
    tr = SubjectTracker(SubjectConfig(follow=True, refind=3), MODEL)
    tr.observe(blobs((4, 2, 60, 46)), None, FRAME)
    assert tr.crop(FRAME) is None  # a crop would cover most of the frame anyway
    person = (28, 12, 36, 36)  # 280..360 x 120..360 px
    tr.observe(blobs(person), None, FRAME)
    dues = []
    for _ in range(4):
        box = tr.crop(FRAME)
        assert box is not None and box[0] > 150  # the crop stays on the person...
        cw, ch = (box[2] - box[0]) / 32, (box[3] - box[1]) / 48
        inside = (round((280 - box[0]) / cw), round((120 - box[1]) / ch), round((360 - box[0]) / cw),
                  round((360 - box[1]) / ch))
        tr.observe(blobs(inside, h=48, w=32), box, FRAME)
        dues.append(tr.due)
        if tr.due:
            tr.look(blobs(person), FRAME)  # nobody new
    assert dues == [False, False, True, False]  # ...and every 3 crops the whole frame is looked at too
    tr = SubjectTracker(SubjectConfig(follow=True, refind=1), MODEL)
    tr.observe(blobs(person), None, FRAME)
    box = tr.crop(FRAME)
    tr.observe(blobs((10, 10, 22, 38), h=48, w=32), box, FRAME)
    assert tr.due
    tr.look(blobs(person, (2, 10, 8, 30)), FRAME)  # someone new at the left edge (20..80 px)
    assert tr.crop(FRAME)[0] <= 20 and tr.crop(FRAME)[2] >= 360  # the next crop takes in both
    main = SubjectTracker(SubjectConfig("main", follow=True, refind=1), MODEL)
    main.observe(blobs(person), None, FRAME)
    main.observe(blobs((10, 10, 22, 38), h=48, w=32), main.crop(FRAME), FRAME)
    assert not main.due  # following the main person needs no look for others


def test_crop_is_never_smaller_than_the_model_input_and_stays_in_the_frame() -> None:
    tr = SubjectTracker(SubjectConfig(follow=True), (192, 192))
    tr.observe(blobs((62, 0, 64, 2)), None, FRAME)  # a speck in the top right corner (20 x 20 px)
    x0, y0, x1, y1 = tr.crop(FRAME)
    assert x1 - x0 >= 192 and y1 - y0 >= 192 and x1 <= 640 and y0 >= 0


@pytest.mark.parametrize("kw", [{"keep": "some"}, {"margin": -1}, {"aspect": 0}, {"refind": -1}, {"refind": 1.5}])
def test_config_is_validated(kw: dict) -> None:
    with pytest.raises(ValueError):
        SubjectConfig(**kw)


def test_a_crops_map_fades_out_at_its_border_to_meet_the_zero_around_it() -> None:
    tr = SubjectTracker(SubjectConfig(follow=True), MODEL)
    haze = np.full((48, 64), 0.2, np.float32)  # the faint probability a model gives a background
    assert tr.observe(haze, None, FRAME) is haze  # the whole frame: as it is
    out = tr.observe(haze, (100, 100, 400, 400), FRAME)
    assert out[0].max() < 0.08 and out[:, 0].max() < 0.08  # a third of the haze or less in the edge cells
    np.testing.assert_allclose(out[10:-10, 10:-10], 0.2)  # inside: untouched
    assert haze.min() == np.float32(0.2)  # the input is not written to


def test_follow_does_not_flip_between_crop_and_whole_frame_near_the_limit() -> None:
    """People across most of a still frame: a crop starts only when the crop made (room to move included) stays
    under FULL_FRAME_SHARE, and a crop in use is kept until the people need that share. Before, each view found a
    slightly different extent and the model's view flipped crop / whole frame every frame (flicker)."""
    cfg = SubjectConfig(follow=True, margin=0.1, aspect=0.75)
    tr = SubjectTracker(cfg, MODEL)
    wide = (1, 12, 63, 36)  # 620 x 240 px of people: 640 x 288 needed (60 % of the frame), 640 x 317 grown (66 %)
    for _ in range(3):
        tr.observe(blobs(wide), None, FRAME)
        assert tr.crop(FRAME) is not None
    taller = (1, 10, 63, 38)  # 280 px high: 336 needed (70 % with the margin): the whole frame
    tr.observe(blobs(taller), None, FRAME)
    assert tr.crop(FRAME) is None
    between = (1, 11, 63, 37)  # 260 px: 312 needed (65 %), but the crop made would be 343 (71 %): stay whole
    for _ in range(3):
        tr.observe(blobs(between), None, FRAME)
        assert tr.crop(FRAME) is None
    tr.reset()
    tr.observe(blobs(wide), None, FRAME)
    box = tr.crop(FRAME)
    assert box is not None
    # Seen through that crop, the same people look a little taller (65 % needed): the crop stays.
    ch = (box[3] - box[1]) / 48
    tr.observe(blobs((1, round((110 - box[1]) / ch), 63, round((370 - box[1]) / ch))), box, FRAME)
    assert tr.crop(FRAME) == box
