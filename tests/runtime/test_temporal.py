"""Temporal smoothing: less flicker on still scenes, fast pick-up, resets on cuts, and the Pipeline hook."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import GREEN, RED, split_image

from segblur import Pipeline
from segblur.runtime.temporal import TemporalConfig, TemporalSmoother

H = W = 32


def grey(value: int, h: int = 96, w: int = 96) -> np.ndarray:
    return np.full((h, w, 3), value, np.uint8)


def mean_abs_step(frames: list[np.ndarray]) -> float:
    return float(np.mean([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])]))


def test_static_noisy_probabilities_flicker_less() -> None:
    rng = np.random.default_rng(0)
    base = np.tile(np.linspace(0, 1, W, dtype=np.float32), (H, 1))
    raw = [np.clip(base + rng.normal(0, 0.15, (H, W)), 0, 1).astype(np.float32) for _ in range(40)]
    sm = TemporalSmoother()
    rgb = grey(100)
    out = [sm(p, rgb) for p in raw]
    assert mean_abs_step(out) < 0.5 * mean_abs_step(raw)
    assert abs(float(np.mean(out[10:])) - float(base.mean())) < 0.1  # smoothing, not a drift
    assert sm.resets == 0


def test_pipeline_on_a_noisy_still_scene_flickers_less(model_path: Path) -> None:
    # Left red (person), right green; a middle band where red ~ green sits at probability ~0.5 and whose
    # colour wavers a little from frame to frame, as an uncertain region of a real frame does for a model.
    rng = np.random.default_rng(1)
    frames = []
    for _ in range(25):
        img = split_image(128, 128)
        img[:, 48:80] = (128 + int(rng.normal(0, 8)), 128, 0)
        frames.append(img)
    masks = {}
    for temporal in (False, True):
        pipe = Pipeline(model_path, temporal=temporal)
        masks[temporal] = []
        for f in frames:
            pipe.process(f)
            masks[temporal].append(pipe.last_alpha.copy())
    assert mean_abs_step(masks[True]) < 0.7 * mean_abs_step(masks[False])


def test_a_person_appearing_is_picked_up_at_once() -> None:
    sm = TemporalSmoother()
    rgb = grey(100)
    empty, person = np.zeros((H, W), np.float32), np.zeros((H, W), np.float32)
    person[8:24, 8:24] = 1.0
    for _ in range(10):
        sm(empty, rgb)
    first = sm(person, rgb)  # the picture did not even change: the rise weight alone
    assert first[8:24, 8:24].min() >= 0.7 and first.max() <= 1.0
    assert sm(person, rgb)[8:24, 8:24].min() >= 0.9
    assert sm.resets == 0


def test_a_dropped_probability_fades_over_a_few_frames() -> None:
    sm = TemporalSmoother()
    rgb = grey(100)
    ones, zeros = np.ones((H, W), np.float32), np.zeros((H, W), np.float32)
    for _ in range(5):
        sm(ones, rgb)
    seq = [float(sm(zeros, rgb).mean()) for _ in range(4)]
    assert seq[0] > 0.5  # one missed frame does not blink the person out
    assert seq == sorted(seq, reverse=True) and seq[-1] < 0.3


def test_local_motion_takes_the_new_probability_where_the_picture_changed() -> None:
    sm = TemporalSmoother()
    before, after = grey(60), grey(60)
    after[:, :24] = 240  # the left quarter changes a lot; the mean change stays below the cut threshold
    ones, zeros = np.ones((H, W), np.float32), np.zeros((H, W), np.float32)
    for _ in range(5):
        sm(ones, before)
    out = sm(zeros, after)
    assert out[:, :6].max() == pytest.approx(0.0, abs=1e-6)  # moved: no ghost
    assert out[:, 16:].min() == pytest.approx(0.7, abs=1e-5)  # still: 1 - fall
    assert sm.resets == 0


def test_scene_cut_and_frame_size_change_reset() -> None:
    sm = TemporalSmoother()
    ones, half = np.ones((H, W), np.float32), np.full((H, W), 0.5, np.float32)
    for _ in range(5):
        sm(ones, grey(20))
    np.testing.assert_array_equal(sm(half, grey(230)), half)  # cut: taken as is
    assert sm.resets == 1
    sm(ones, grey(230))
    np.testing.assert_array_equal(sm(half, grey(230, 64, 80)), half)  # new frame size
    assert sm.resets == 2
    # A new model resolution (a kept-aspect model on a crop of another shape) goes on smoothing, resampled.
    out = sm(ones[:16], grey(230, 64, 80))
    assert out.shape == (16, W) and sm.resets == 2 and out.min() > 0.5 and out.max() < 1


def test_reset_forgets_the_stream() -> None:
    sm = TemporalSmoother()
    ones, zeros = np.ones((H, W), np.float32), np.zeros((H, W), np.float32)
    sm(ones, grey(100))
    sm.reset()
    np.testing.assert_array_equal(sm(zeros, grey(100)), zeros)
    assert sm.resets == 0  # an explicit reset is not counted as a motion reset


def test_output_is_a_new_array() -> None:
    sm = TemporalSmoother()
    p = np.full((H, W), 0.3, np.float32)
    a = sm(p, grey(100))
    a[:] = 9
    b = sm(p, grey(100))
    assert b.max() <= 1.0 and np.all(p == np.float32(0.3))


@pytest.mark.parametrize("kw", [{"rise": 0}, {"fall": 1.5}, {"rise": float("nan")}, {"local_motion": -1},
                                {"motion_threshold": 0}])
def test_config_is_validated(kw: dict) -> None:
    with pytest.raises(ValueError):
        TemporalConfig(**kw)


def test_pipeline_temporal_is_off_by_default(model_path: Path) -> None:
    pipe = Pipeline(model_path)
    assert pipe.temporal is None and pipe.smoother is None
    a, b = split_image(48, 64), split_image(48, 64, RED, RED)
    pipe.process(a)
    np.testing.assert_array_equal(pipe.process(b), Pipeline(model_path).process(b))  # frames independent
    pipe.reset()  # harmless when off


def test_pipeline_temporal_on_reset_and_switch(model_path: Path) -> None:
    pipe = Pipeline(model_path, temporal=True, effect="color", color="#0000ff")
    assert pipe.temporal == TemporalConfig()
    green, red = split_image(48, 64, GREEN, GREEN), split_image(48, 64, RED, RED)
    pipe.process(red)
    pipe.process(green)  # mean change is large (a cut) -> taken as is
    fresh = Pipeline(model_path, effect="color", color="#0000ff")
    # A still scene whose probability drops: with smoothing the drop is gradual.
    pale = split_image(48, 64, (140, 120, 0), (140, 120, 0))  # probability ~0.6 everywhere
    darker = split_image(48, 64, (132, 124, 0), (132, 124, 0))  # ~0.52: a small picture change
    pipe.reset()
    pipe.process(pale)
    smoothed = pipe.mask(darker), pipe.process(darker), pipe.last_alpha.copy()
    fresh.process(darker)
    assert smoothed[2].mean() > fresh.last_alpha.mean() + 0.01
    np.testing.assert_array_equal(smoothed[0], fresh.mask(darker))  # mask() is never smoothed
    pipe.reset()
    pipe.process(darker)
    np.testing.assert_array_equal(pipe.last_alpha, fresh.last_alpha)  # after reset: as a first frame
    pipe.set_temporal(TemporalConfig(rise=1.0, fall=1.0, local_motion=0.0))
    assert pipe.temporal is not None and pipe.temporal.rise == 1.0
    pipe.process(pale)
    pipe.process(darker)
    np.testing.assert_array_equal(pipe.last_alpha, fresh.last_alpha)  # weights of 1: no smoothing
    pipe.set_temporal(False)
    assert pipe.temporal is None
    with pytest.raises(ValueError):
        pipe.set_temporal("yes")  # type: ignore[arg-type]


def moving_square(n: int, step: int = 2, h: int = 48, w: int = 64, seed: int = 0):
    """Thumbnails of a textured square sliding right over a still textured background, its true masks, and noisy
    model probabilities of it (the probabilities the smoother is fed at the model's resolution)."""
    rng = np.random.default_rng(seed)
    up = lambda a: cv2.resize(a, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)  # noqa: E731
    back = up(rng.random((h // 6, w // 6)).astype(np.float32) * 0.5)
    square = up(rng.random((4, 4)).astype(np.float32) * 0.5 + 0.5)[:16, :16]
    thumbs, masks, probs = [], [], []
    for i in range(n):
        x = 4 + step * i
        t, m = back.copy(), np.zeros((h, w), bool)
        t[16:32, x:x + 16], m[16:32, x:x + 16] = square, True
        thumbs.append(t)
        masks.append(m)
        probs.append(np.clip(m + rng.normal(0, 0.2, m.shape), 0, 1).astype(np.float32))
    return thumbs, masks, probs


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_motion_compensation_follows_a_moving_shape_instead_of_trailing_it() -> None:
    thumbs, masks, probs = moving_square(14, step=3)
    scores = {}
    for flow in (True, False):
        sm = TemporalSmoother(TemporalConfig(flow=flow, local_motion=0.0))  # no gating: the warp alone decides
        scores[flow] = [iou(sm.smooth(p, t, (96, 128, 3)) >= 0.5, m) for p, t, m in zip(probs, thumbs, masks)]
        assert sm.resets == 0
    assert np.mean(scores[True][4:]) > 0.9
    assert np.mean(scores[True][4:]) > np.mean(scores[False][4:]) + 0.1  # without the warp: a trail behind


def test_smoothing_carries_over_when_the_crop_moves() -> None:
    # A still scene whose map is computed over a crop that moves right by 8 px (4 cells of a 2 px grid): the state
    # is carried across (the overlap keeps its smoothed values, the new part is taken as is).
    rng = np.random.default_rng(3)
    frame = cv2.resize(rng.random((12, 16)).astype(np.float32), (64, 48), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    truth = np.zeros((48, 64), np.float32)
    truth[10:40, 20:44] = 1.0
    sm = TemporalSmoother(TemporalConfig(flow=False))
    cell = lambda a, b: cv2.resize(a[b[1]:b[3], b[0]:b[2]], (16, 16), interpolation=cv2.INTER_AREA)  # noqa: E731
    a, b = (8, 8, 40, 40), (16, 8, 48, 40)
    sm.smooth(cell(truth, a), cell(frame, a), (48, 64, 3), a)
    out = sm.smooth(np.zeros((16, 16), np.float32), cell(frame, b), (48, 64, 3), b).copy()
    assert sm.resets == 0
    expected_old = cell(truth, b)[:, :12] * (1 - TemporalConfig().fall)  # the probability dropped: it falls slowly
    np.testing.assert_allclose(out[:, :11], expected_old[:, :11], atol=0.03)
    np.testing.assert_array_equal(out[:, 13:], 0.0)  # seen for the first time: taken as is
