"""The compute governor: its decisions on synthetic streams, its budget, its choice of model, the pipeline's hook."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import split_image

from segblur import Pipeline, Segmenter
from segblur.runtime import governor as gov
from segblur.runtime.compose import composite
from segblur.runtime.governor import HOLD, MODEL, REUSE, SETTLE, Governor, GovernorConfig, change, thumbnail
from segblur.runtime.temporal import TemporalSmoother

H, W = 96, 128


def scene(dx: float = 0.0, dy: float = 0.0, gain: float = 1.0) -> np.ndarray:
    """A textured background with a bright square (the "person") shifted by (dx, dy), brightness times ``gain``."""
    rng = np.random.default_rng(7)
    bg = cv2.resize(rng.integers(40, 200, (6, 8, 3), dtype=np.uint8), (W, H), interpolation=cv2.INTER_CUBIC)
    img = bg.astype(np.float32)
    m = np.float32([[1, 0, dx], [0, 1, dy]])
    square = np.zeros((H, W), np.float32)
    square[24:72, 40:88] = 1
    a = cv2.warpAffine(square, m, (W, H))[..., None]
    img = img * (1 - a) + np.float32([230, 40, 50]) * a
    return np.clip(img * gain, 0, 255).astype(np.uint8)


def noisy(frame: np.ndarray, seed: int, sigma: float = 2.5) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, frame.shape)
    return np.clip(frame + np.rint(noise), 0, 255).astype(np.uint8)


def steps(g: Governor, frames: list[np.ndarray]) -> list[str]:
    return [g.plan(f) for f in frames]


def test_a_still_noisy_scene_reuses_and_runs_the_model_every_interval() -> None:
    g = Governor(GovernorConfig(interval=10))
    got = steps(g, [noisy(scene(), i) for i in range(31)])
    assert got[0] == MODEL
    assert [i for i, s in enumerate(got) if s == MODEL] == [0, 10, 20, 30]  # the interval, whatever happens
    assert got.count(REUSE) >= 25  # sensor noise is not motion
    assert g.counts == {MODEL: 4, HOLD: got.count(HOLD), REUSE: got.count(REUSE)}


def test_small_motion_holds_the_probability_and_large_motion_runs_the_model() -> None:
    g = Governor()
    assert g.plan(noisy(scene(), 0)) == MODEL
    assert g.plan(noisy(scene(dx=1.0), 1)) == HOLD  # the square moved a pixel: refine on the new frame
    assert g.plan(noisy(scene(dx=1.0), 2)) == REUSE  # and stays there: nothing to redo
    assert g.plan(noisy(scene(dx=12.0), 3)) == MODEL  # a large move: no lag, the model sees it
    assert g.plan(noisy(scene(dx=12.0), 4)) == REUSE


def test_a_change_of_brightness_is_not_motion() -> None:
    g = Governor()
    g.plan(scene())
    assert g.plan(scene(gain=1.06)) == REUSE  # auto exposure: 6 % brighter, nobody moved
    assert float(change(thumbnail(scene(gain=1.06)), thumbnail(scene())).max()) < 1.0


def test_reset_a_new_size_and_nothing_to_reuse_run_the_model_or_hold() -> None:
    g = Governor()
    g.plan(scene())
    assert g.plan(scene(), can_reuse=False) == HOLD  # the caller has no matte to reuse
    g.reset()
    assert g.plan(scene()) == MODEL
    assert g.plan(cv2.resize(scene(), (W // 2, H // 2))) == MODEL


def test_skipped_counts_the_frames_between_model_runs() -> None:
    g = Governor(GovernorConfig(interval=4))
    for _ in range(5):
        g.plan(scene())
    assert g.skipped == 3  # frame 4 runs the model after frames 1-3 were skipped


def test_a_wall_clock_budget_raises_the_level_while_over_and_lowers_it_when_well_under() -> None:
    g = Governor(GovernorConfig(target_fps=30, max_level=2))
    still, hold, interval = g.thresholds()
    for _ in range(3 * SETTLE):
        g.observe(1 / 20)  # 20 fps where 30 are asked for
    assert g.level == 2 and g.level_changes == 2  # one step per settle period, up to max_level
    assert g.thresholds()[1] > hold and g.thresholds()[2] == 4 * interval
    for _ in range(3 * SETTLE):
        g.observe(1 / 200)
    assert g.level == 0
    assert g.over_budget() < 0.6


def test_a_cpu_budget_uses_the_process_cpu_per_frame_at_the_stream_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = {"cpu": 0.0}
    monkeypatch.setattr(gov.time, "process_time", lambda: clock["cpu"])
    g = Governor(GovernorConfig(max_cpu=50, fps=30))
    frame = scene()
    for _ in range(2 * SETTLE):
        clock["cpu"] += 0.025  # 25 ms of CPU per frame at 30 fps: 75 % of a core
        g.plan(frame)
        g.observe(0.01)
    assert g.cpu_share() == pytest.approx(75.0)
    assert g.level >= 1
    assert "budget 50 % CPU, level" in g.describe()


def test_without_a_budget_the_level_stays_and_nothing_is_chosen(model_path: Path) -> None:
    g = Governor()
    for _ in range(2 * SETTLE):
        g.observe(1.0)
    assert g.level == 0
    seg = Segmenter(model_path)
    assert g.choose(seg) is seg and g.choice == ""


def test_with_a_budget_the_model_and_its_int8_twin_are_timed(model_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "tiny.onnx"
    shutil.copy(model_path, path)
    shutil.copy(model_path, tmp_path / "tiny-int8.onnx")  # a stand-in twin: same network, another file
    seg = Segmenter(path, keep=["person"])
    g = Governor(GovernorConfig(max_cpu=50))
    chosen = g.choose(seg)
    assert Path(chosen.model.path).name in {"tiny.onnx", "tiny-int8.onnx"}
    assert chosen.threads in (None, 1) and [chosen.classes[i] for i in chosen.keep] == ["person"]
    assert "ms CPU per model run" in g.choice and "tiny with ONNX Runtime's default threads" in g.choice
    keep_all = Governor(GovernorConfig(max_cpu=50, choose_model=False, choose_threads=False))
    assert keep_all.choose(seg) is seg


def test_a_model_on_another_provider_is_left_alone(model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seg = Segmenter(model_path)
    monkeypatch.setattr(type(seg.model), "provider", property(lambda self: "CUDAExecutionProvider"))
    g = Governor(GovernorConfig(target_fps=30))
    assert g.choose(seg) is seg and "CUDAExecutionProvider" in g.choice


@pytest.mark.parametrize("kwargs", [{"still": -1}, {"hold": float("nan")}, {"still": 5, "hold": 2}, {"interval": 0},
                                    {"interval": 2.5}, {"max_cpu": 0}, {"target_fps": -30}, {"fps": float("inf")},
                                    {"max_level": -1}])
def test_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="governor"):
        GovernorConfig(**kwargs)


# --- the pipeline's hook ------------------------------------------------------------------------------------------

def test_pipeline_reuses_the_matte_and_background_on_a_still_stream(model_path: Path) -> None:
    pipe = Pipeline(model_path, temporal=True, governor=GovernorConfig(interval=100))
    first = pipe.process(split_image(H, W))
    kept_alpha = pipe.last_alpha8.copy()
    background = pipe.effect.render(split_image(H, W), kept_alpha)
    out = pipe.process(noisy(split_image(H, W), 1, sigma=1.0))
    assert pipe.last_step == REUSE
    assert pipe.last_timings["segment"] == pipe.last_timings["refine"] == pipe.last_timings["effect"] == 0.0
    np.testing.assert_array_equal(pipe.last_alpha8, kept_alpha)
    np.testing.assert_array_equal(out, composite(noisy(split_image(H, W), 1, sigma=1.0), background, kept_alpha))
    assert np.abs(out.astype(int) - first).max() <= 4  # the frame's own noise shows through
    pipe.view = "mask"
    np.testing.assert_array_equal(pipe.process(split_image(H, W))[..., 0], kept_alpha)


def test_switching_the_effect_renders_the_next_background_afresh(model_path: Path) -> None:
    pipe = Pipeline(model_path, effect="color", color="#0000ff", governor=True)
    pipe.process(split_image(H, W))
    pipe.set_effect(color="#ff00ff")
    out = pipe.process(split_image(H, W))
    assert pipe.last_step == HOLD
    assert np.all(out[:, -8:] == (255, 0, 255))


def test_a_model_run_after_held_frames_smooths_as_if_it_had_seen_each(model_path: Path) -> None:
    pipe = Pipeline(model_path, temporal=True, governor=GovernorConfig(interval=4))
    frames = [split_image(H, W, split=60)] + [split_image(H, W, split=64)] * 4
    for f in frames:
        pipe.process(f)
    assert [pipe.governor.counts[s] for s in (MODEL, HOLD)] == [2, 3] or pipe.governor.counts[MODEL] == 2
    sm, seg = TemporalSmoother(), Segmenter(model_path)
    for f in [frames[0]] + [frames[4]] * 4:  # the model's fifth frame, smoothed for itself and the three skipped
        expected = sm(seg.predict_lowres(f), f)
    np.testing.assert_allclose(pipe._held_prob, expected, atol=1e-6)


def test_reset_and_set_governor(model_path: Path) -> None:
    pipe = Pipeline(model_path, governor=True)
    pipe.process(split_image(H, W))
    pipe.reset()
    pipe.process(split_image(H, W))
    assert pipe.last_step == MODEL
    pipe.set_governor(False)
    assert pipe.governor is None
    pipe.process(split_image(H, W))
    assert pipe.last_step == MODEL
    with pytest.raises(ValueError, match="governor"):
        pipe.set_governor("yes")  # type: ignore[arg-type]
