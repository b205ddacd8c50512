"""The pipeline's stream stage: subject focus, push/drain with two-way smoothing, the export views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import GREEN, RED

from segblur import Pipeline
from segblur.runtime.masks import mask_8bit
from segblur.runtime.subject import SubjectConfig
from segblur.runtime.temporal import TemporalConfig


def scene(h: int = 240, w: int = 320, squares: tuple[tuple[int, int, int, int], ...] = ((150, 80, 180, 160),),
          back: tuple[int, int, int] = GREEN) -> np.ndarray:
    """Red (person, for the tiny model) boxes (x0, y0, x1, y1) on a plain background, with a faint texture."""
    img = np.empty((h, w, 3), np.uint8)
    img[:] = back
    for x0, y0, x1, y1 in squares:
        img[y0:y1, x0:x1] = RED
    yy, xx = np.mgrid[:h, :w]
    img[..., 2] = ((xx // 8 + yy // 8) % 2 * 40).astype(np.uint8)  # blue checks: neutral for the model
    return img


def test_main_subject_drops_the_person_at_the_edge(model_path: Path) -> None:
    img = scene(squares=((140, 60, 180, 180), (4, 4, 30, 40)))
    everyone = Pipeline(model_path).mask(img)
    main = Pipeline(model_path, subject="main").mask(img)
    assert everyone[20, 15] > 0.5 and main[20, 15] < 0.5
    assert main[120, 160] > 0.5
    np.testing.assert_array_equal(main[50:, 100:], everyone[50:, 100:])  # the main person is untouched


def test_follow_runs_the_model_on_a_crop_and_pastes_it_into_the_frame(model_path: Path) -> None:
    pipe = Pipeline(model_path, temporal=True, subject=SubjectConfig(follow=True))
    frames = [scene(squares=((150 + 4 * i, 80, 180 + 4 * i, 160),)) for i in range(5)]
    boxes = []
    for f in frames:
        pipe.process(f)
        boxes.append(pipe.stream.tracker.crop(f.shape))
    assert boxes[0] is not None  # after the first frame: a crop around the square
    x0, y0, x1, y1 = boxes[-2]  # the crop the last frame was run on
    alpha = pipe.last_alpha
    assert alpha[y0:y1, x0:x1].max() > 0.9
    outside = np.ones(alpha.shape, bool)
    outside[y0:y1, x0:x1] = False
    assert not alpha[outside].any()
    assert (alpha >= 0.5)[90:150, 170:190].all()  # the square (at 166..196) is found


@pytest.mark.parametrize("lookahead", [0, 2])
def test_a_cut_seen_through_a_crop_is_looked_at_whole(model_path: Path, lookahead: int) -> None:
    pipe = Pipeline(model_path, temporal=TemporalConfig(lookahead=lookahead), subject=SubjectConfig(follow=True))
    alphas = []
    for _ in range(3):
        if pipe.push(scene(squares=((20, 80, 50, 160),))) is not None:
            alphas.append(pipe.last_alpha.copy())
    assert pipe.stream.tracker.crop((240, 320, 3)) is not None
    cut = scene(squares=((260, 60, 300, 200),), back=(0, 60, 0))  # much darker: a cut
    if pipe.push(cut) is not None:
        alphas.append(pipe.last_alpha.copy())
    alphas += [pipe.last_alpha.copy() for _ in pipe.drain()]
    assert pipe.smoother.resets == 1 and len(alphas) == 4
    assert (alphas[-1] >= 0.5)[80:180, 265:295].all()  # the new person, far outside the old crop
    assert (alphas[-2] >= 0.5)[90:150, 25:45].all() and not (alphas[-2] >= 0.5)[:, 200:].any()  # no leak back


@pytest.mark.parametrize("temporal", [False, TemporalConfig(lookahead=0), TemporalConfig(lookahead=3)],
                         ids=["off", "causal", "lookahead"])
def test_push_answers_every_frame_in_order(model_path: Path, temporal) -> None:
    frames = [scene(squares=((100 + 10 * i, 60, 140 + 10 * i, 180),)) for i in range(7)]
    pipe = Pipeline(model_path, temporal=temporal, effect="color", color="#0000ff")
    outs, alphas = [], []
    for f in frames:
        out = pipe.push(f)
        if out is not None:
            outs.append(out)
            alphas.append(pipe.last_alpha.copy())
    assert len(outs) == 7 - pipe.lookahead
    for out in pipe.drain():
        outs.append(out)
        alphas.append(pipe.last_alpha.copy())
    assert len(outs) == 7
    for i, a in enumerate(alphas):  # frame i's own square, in frame i's answer
        assert (a >= 0.5)[70:170, 105 + 10 * i:135 + 10 * i].all(), i
    if not temporal:
        np.testing.assert_array_equal(outs[3], Pipeline(model_path, effect="color", color="#0000ff")
                                      .process(frames[3]))


def test_reset_forgets_the_frames_pushed(model_path: Path) -> None:
    pipe = Pipeline(model_path, temporal=TemporalConfig(lookahead=3))
    assert pipe.push(scene()) is None
    pipe.reset()
    assert list(pipe.drain()) == []


def test_export_views_return_the_alpha_without_an_effect(model_path: Path) -> None:
    img = scene()
    pipe = Pipeline(model_path)
    pipe.view = "rgba"
    rgba = pipe.process(img)
    assert rgba.shape == (240, 320, 4) and rgba.dtype == np.uint8
    np.testing.assert_array_equal(rgba[..., :3], img)
    np.testing.assert_array_equal(rgba[..., 3], mask_8bit(pipe.last_alpha, soft=True))
    assert pipe.last_timings["effect"] == 0
    pipe.view = "alpha"
    np.testing.assert_array_equal(pipe.process(img), rgba[..., 3])
    pipe.view = "binary"
    binary = pipe.process(img)
    assert set(np.unique(binary)) <= {0, 255}
    np.testing.assert_array_equal(binary, mask_8bit(pipe.last_alpha))
