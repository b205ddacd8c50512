"""The runtime hot path's shared pieces: one preprocessing, one upsample+argmax, one grey guide per frame."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import split_image

from segblur import Pipeline
from segblur.runtime.refine import RefineConfig, grey_frame, guide_lowres, refine
from segblur.runtime.segmenter import Segmenter, classes_at, make_blob, probabilities_at
from segblur.runtime.temporal import TemporalConfig, TemporalSmoother
from segblur.runtime.workspace import Workspace


def photo(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth random colours plus a little noise: edges and flat areas, like a photo."""
    small = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    img = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.int16)
    return np.clip(img + rng.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)


def test_make_blob_is_the_calibration_preprocessing_with_or_without_a_workspace(model3_path: Path) -> None:
    info = Segmenter(model3_path).info
    img = photo(np.random.default_rng(0), 75, 101)
    ws = Workspace()
    with_ws = make_blob(img, info, ws)
    np.testing.assert_array_equal(with_ws, make_blob(img, info))
    assert with_ws.shape == (1, 3) + info.input_size and with_ws.flags.c_contiguous
    assert make_blob(img, info) is not make_blob(img, info)  # calibration keeps each blob
    assert make_blob(img, info, ws) is with_ws  # the stream reuses its buffer


def test_make_blob_channel_order_and_normalisation(model3_path: Path) -> None:
    info = Segmenter(model3_path).info
    h, w = info.input_size
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0], img[..., 2] = 255, 51
    bgr = dataclasses.replace(info, color="BGR", mean=(0.0, 10.0, 20.0), std=(1.0, 2.0, 4.0))
    blob = make_blob(img, bgr)
    np.testing.assert_allclose(blob[0, :, 0, 0], [51.0, -5.0, (255 - 20) / 4])


@pytest.mark.parametrize("color", ["RGB", "BGR"])
def test_make_blob_is_the_plain_formula_per_channel(model3_path: Path, color: str) -> None:
    info = Segmenter(model3_path).info
    h, w = info.input_size
    img = photo(np.random.default_rng(3), h, w)  # at the input size: no resizing, only the normalisation
    params = dataclasses.replace(info, color=color, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))
    x = img[..., ::-1] if color == "BGR" else img
    want = ((x - np.float32(params.mean)) / np.float32(params.std)).astype(np.float32).transpose(2, 0, 1)[None]
    ws = Workspace()
    for blob in (make_blob(img, params), make_blob(img, params, ws), make_blob(img, params, ws)):
        assert blob.dtype == np.float32 and blob.flags.c_contiguous
        np.testing.assert_allclose(blob, want, rtol=1e-6, atol=1e-6)


def test_classes_at_is_what_segmenter_predict_classes_returns(model3_path: Path) -> None:
    seg = Segmenter(model3_path)
    img = photo(np.random.default_rng(2), 47, 61)
    probs = seg.probabilities_lowres(img)
    cls = classes_at(probs, img.shape)
    np.testing.assert_array_equal(cls, seg.predict_classes(img))
    assert cls.shape == (47, 61) and cls.dtype == np.uint8 and len(np.unique(cls)) > 1
    up = probabilities_at(probs, img.shape)
    assert up.shape == (47, 61, 3)
    np.testing.assert_array_equal(up.argmax(2), cls)


def test_probabilities_at_keeps_a_single_class_axis() -> None:
    probs = np.linspace(0, 1, 16, dtype=np.float32).reshape(1, 4, 4)
    up = probabilities_at(probs, (8, 8))
    assert up.shape == (8, 8, 1)
    assert not classes_at(probs, (8, 8)).any()


@pytest.mark.parametrize("guided", [True, False])
def test_refine_with_the_shared_guide_equals_refine_from_the_frame(guided: bool) -> None:
    rng = np.random.default_rng(3)
    img = photo(rng, 90, 120)
    prob = np.clip(rng.random((24, 32)), 0, 1).astype(np.float32)
    prob.flags.writeable = False  # refine only reads its input
    cfg = RefineConfig(guided=guided)
    ref = refine(prob, img, cfg).copy()
    ws = Workspace()
    grey = grey_frame(img, ws)
    low = guide_lowres(grey, (32, 24), ws)
    low.flags.writeable = False
    np.testing.assert_array_equal(refine(prob, grey, cfg, ws, low), ref)
    np.testing.assert_array_equal(refine(prob, img, cfg, None, low), ref)
    if guided:
        with pytest.raises(ValueError, match="guide_low"):
            refine(prob, img, cfg, None, low[:20])


def reference_smoother(cfg: TemporalConfig):
    """The smoother as first written (fresh arrays every frame), as a per-frame function of (prob, thumb, shape)."""
    mem: dict = {}

    def step(prob: np.ndarray, thumb: np.ndarray, shape: tuple) -> np.ndarray:
        state, prev = mem.get("state"), mem.get("thumb")
        if state is None or state.shape != prob.shape or mem.get("shape") != shape:
            state = prob.copy()
        else:
            change = cv2.absdiff(thumb, prev)
            if float(change.mean()) > cfg.motion_threshold:
                state = prob.copy()
            else:
                weight = np.where(prob > state, np.float32(cfg.rise), np.float32(cfg.fall))
                moved = cv2.blur(change, (3, 3), borderType=cv2.BORDER_REPLICATE) * (1 / cfg.local_motion)
                np.maximum(weight, np.minimum(moved, 1.0), out=weight)
                state = state + weight * (prob - state)
        mem.update(state=state, thumb=thumb.copy(), shape=shape)
        return state.copy()

    return step


def moving_frames(n: int, h: int = 72, w: int = 96) -> list[np.ndarray]:
    """A bright square sliding over a textured still background, with a little sensor noise."""
    rng = np.random.default_rng(4)
    base = photo(rng, h, w)
    frames = []
    for i in range(n):
        f = base.copy()
        f[20:44, 4 + 3 * i:28 + 3 * i] = 230
        frames.append(np.clip(f.astype(np.int16) + rng.integers(-3, 4, f.shape), 0, 255).astype(np.uint8))
    return frames


def test_buffered_smoother_matches_the_allocating_one_and_results_survive_the_next_frame() -> None:
    cfg = TemporalConfig(flow=False)  # the reference has no optical flow (test_temporal.py tests the flow)
    sm, ref = TemporalSmoother(cfg), reference_smoother(cfg)
    rng = np.random.default_rng(5)
    held = []
    for f in moving_frames(12):
        prob = rng.random((18, 24)).astype(np.float32)
        thumb = guide_lowres(grey_frame(f), (24, 18))
        expected = ref(prob, thumb, f.shape)
        got = sm(prob, f)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        held.append((got, expected))
    assert sm.resets == 0
    for got, expected in held:  # __call__ returns new arrays: later frames do not touch earlier results
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_smooth_returns_a_read_only_view_valid_until_the_next_frame() -> None:
    sm = TemporalSmoother()
    thumb = np.full((8, 8), 0.4, np.float32)
    first = sm.smooth(np.ones((8, 8), np.float32), thumb, (32, 32, 3))
    with pytest.raises(ValueError):
        first[0, 0] = 5.0
    kept = first.copy()
    thumb[:] = 0.9  # the caller's thumbnail buffer is reused: the smoother kept its own copy (a cut is seen)
    second = sm.smooth(np.zeros((8, 8), np.float32), thumb, (32, 32, 3))
    assert sm.resets == 1 and not second.any()
    np.testing.assert_array_equal(kept, 1.0)


def test_temporal_pipeline_equals_smoother_then_refine_on_the_frame(model_path: Path) -> None:
    pipe = Pipeline(model_path, temporal=True)
    seg, sm = Segmenter(model_path), TemporalSmoother()
    frames = [split_image(60, 80, split=20 + 3 * i) for i in range(8)]
    for f in frames:
        pipe.process(f)
        expected = refine(sm(seg.predict_lowres(f), f), f, pipe.refine_config, dtype=np.uint8)
        np.testing.assert_array_equal(pipe.last_alpha8, expected)
    assert pipe.smoother.resets == sm.resets
