"""Segmenter: any image in, per-pixel foreground probability / class map out."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import BLUE, GREEN, RED, assert_one_line_naming, split_image

from segblur import ModelError, Segmenter
from segblur.runtime.frames import as_rgb


@pytest.fixture(scope="module")
def seg(model_path: Path) -> Segmenter:
    return Segmenter(model_path)


@pytest.fixture(scope="module")
def seg3(model3_path: Path) -> Segmenter:
    return Segmenter(model3_path)


def three_bands(h: int = 30, w: int = 60) -> np.ndarray:
    """Red | green | blue vertical bands."""
    img = np.empty((h, w, 3), np.uint8)
    img[:, : w // 3], img[:, w // 3: 2 * w // 3], img[:, 2 * w // 3:] = RED, GREEN, BLUE
    return img


@pytest.mark.parametrize("shape", [(32, 32, 3), (37, 53, 3), (53, 37, 3), (1, 1, 3), (5, 300, 3), (96, 64, 3)])
def test_predict_is_float32_in_unit_range_at_input_size(seg: Segmenter, shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    prob = seg.predict(img)
    assert prob.shape == shape[:2]
    assert prob.dtype == np.float32
    assert np.all(prob >= 0) and np.all(prob <= 1)


def test_red_is_foreground_green_is_background(seg: Segmenter) -> None:
    prob = seg.predict(split_image(37, 53))
    assert prob[:, :20].min() > 0.95  # red half (away from the boundary)
    assert prob[:, 33:].max() < 0.05  # green half


def test_gray_image_gives_half(seg: Segmenter) -> None:
    # r == g: the person logit equals the background logit.
    prob = seg.predict(np.full((20, 30, 3), 77, np.uint8))
    np.testing.assert_allclose(prob, 0.5, atol=1e-4)


@pytest.mark.parametrize("convert", [
    lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY),
    lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None],
    lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2RGBA),
], ids=["gray", "gray-hw1", "rgba"])
def test_gray_and_rgba_inputs_match_their_rgb_equivalent(seg: Segmenter, convert: Callable) -> None:
    rgb = split_image(37, 53)
    other = convert(rgb)
    expected_rgb = as_rgb(other)
    assert expected_rgb.shape == (37, 53, 3)
    prob = seg.predict(other)
    assert prob.shape == (37, 53) and prob.dtype == np.float32
    np.testing.assert_allclose(prob, seg.predict(expected_rgb), atol=1e-6)


def test_rgba_alpha_channel_is_ignored(seg: Segmenter) -> None:
    rgb = split_image(24, 24)
    rgba = np.dstack([rgb, np.zeros((24, 24), np.uint8)])
    np.testing.assert_allclose(seg.predict(rgba), seg.predict(rgb), atol=1e-6)


def test_float_image_in_unit_range_is_scaled(seg: Segmenter) -> None:
    rgb = split_image(24, 24)
    prob = seg.predict(rgb.astype(np.float32) / 255)
    np.testing.assert_allclose(prob, seg.predict(rgb), atol=1e-3)


def test_bad_image_shape_raises_value_error(seg: Segmenter) -> None:
    with pytest.raises(ValueError):
        seg.predict(np.zeros((8, 8, 2), np.uint8))


def test_predict_lowres_is_network_size(seg: Segmenter) -> None:
    low = seg.predict_lowres(split_image(100, 60))
    assert low.shape == (32, 32) and low.dtype == np.float32


def test_probabilities_lowres_sum_to_one(seg3: Segmenter) -> None:
    probs = seg3.probabilities_lowres(three_bands())
    assert probs.shape == (3, 32, 32) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(0), 1.0, atol=1e-5)


def test_predict_classes_is_uint8_class_map(seg: Segmenter, seg3: Segmenter) -> None:
    cls = seg.predict_classes(split_image(37, 53))
    assert cls.shape == (37, 53) and cls.dtype == np.uint8
    assert np.all(cls[:, :20] == 1) and np.all(cls[:, 33:] == 0)
    cls3 = seg3.predict_classes(three_bands(30, 60))
    assert cls3.dtype == np.uint8 and cls3.shape == (30, 60)
    assert np.all(cls3[:, :17] == 1)  # red: person
    assert np.all(cls3[:, 23:37] == 0)  # green: background
    assert np.all(cls3[:, 43:] == 2)  # blue: car
    assert seg3.classes == ("background", "person", "car")


def test_keep_selects_and_sums_classes(model3_path: Path) -> None:
    img = three_bands(30, 60)
    default = Segmenter(model3_path)  # foreground: person only
    p = default.predict(img)
    assert p[:, :17].min() > 0.95 and p[:, 43:].max() < 0.05
    car = default.predict(img, keep=["car"])
    assert car[:, 43:].min() > 0.95 and car[:, :17].max() < 0.05
    both = Segmenter(model3_path, keep=["person", "car"]).predict(img)
    assert both[:, :17].min() > 0.95 and both[:, 43:].min() > 0.95 and both[:, 23:37].max() < 0.05
    assert both.max() <= 1.0
    np.testing.assert_allclose(both, np.clip(p + car, 0, 1), atol=1e-5)


def test_set_keep_changes_the_default(model3_path: Path) -> None:
    s = Segmenter(model3_path)
    s.set_keep(["car"])
    assert s.predict(three_bands())[:, 43:].min() > 0.95
    s.set_keep(None)  # back to the model's foreground
    assert s.predict(three_bands())[:, 43:].max() < 0.05


def test_unknown_keep_class_raises_model_error(model3_path: Path) -> None:
    with pytest.raises(ModelError, match="dog"):
        Segmenter(model3_path, keep=["dog"])
    s = Segmenter(model3_path)
    with pytest.raises(ModelError, match="dog"):
        s.predict(three_bands(), keep=["person", "dog"])
    with pytest.raises(ModelError):
        s.set_keep(["dog"])


def test_logits_output_is_softmaxed(make_model: Callable[..., Path]) -> None:
    probs_model = Segmenter(make_model(kind="probabilities"))
    logits_model = Segmenter(make_model(kind="logits"))
    assert logits_model.info.output_kind == "logits"
    img = split_image(37, 53)
    pl = logits_model.probabilities_lowres(img)
    np.testing.assert_allclose(pl.sum(0), 1.0, atol=1e-5)
    np.testing.assert_allclose(pl, probs_model.probabilities_lowres(img), atol=1e-5)
    assert logits_model.predict(img)[:, :20].min() > 0.95


def test_bias_shifts_the_decision(make_model: Callable[..., Path]) -> None:
    # A large background bias makes everything background, even red.
    s = Segmenter(make_model(bias=[20.0, 0.0]))
    assert s.predict(split_image(16, 16)).max() < 0.01


def test_bgr_model_gets_bgr_input(make_model: Callable[..., Path]) -> None:
    s = Segmenter(make_model(edit=lambda m: m["input"].update(color="BGR")))
    # The network weighs channel 0 minus channel 1; in BGR order channel 0 is blue.
    prob = s.predict(split_image(16, 16, left=BLUE, right=GREEN))
    assert prob[:, :6].min() > 0.95 and prob[:, 10:].max() < 0.05
    assert s.info.color == "BGR"
    # The same picture through an RGB model: blue has r == g, so it is undecided (0.5).
    assert Segmenter(make_model()).predict(split_image(16, 16, left=BLUE, right=GREEN))[:, :6].max() < 0.6


def test_repeated_predictions_are_identical_and_independent(seg: Segmenter) -> None:
    a = seg.predict(split_image(40, 40))
    a_copy = a.copy()
    seg.predict(split_image(40, 40, left=GREEN, right=RED))
    np.testing.assert_array_equal(a, a_copy)  # an earlier result is not overwritten by the next call


def test_default_model_predicts_valid_probabilities() -> None:
    s = Segmenter("default")
    img = np.random.default_rng(1).integers(0, 256, (45, 61, 3), dtype=np.uint8)
    prob = s.predict(img)
    assert prob.shape == (45, 61) and prob.dtype == np.float32
    assert np.all(prob >= 0) and np.all(prob <= 1)
    assert s.predict_classes(img).max() < len(s.classes)


def test_keeping_a_class_twice_counts_it_once(model_path: Path) -> None:
    img = split_image(32, 48)
    seg = Segmenter(model_path)
    assert np.allclose(seg.predict(img, keep=["person", "person"]), seg.predict(img, keep=["person"]))


def test_non_finite_output_on_a_frame_is_a_value_error_naming_the_model(model_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from segblur.runtime.model import ModelOutputError

    seg = Segmenter(model_path)
    monkeypatch.setattr(seg.model, "run", lambda batch: np.full((1, 2, 32, 32), np.nan, np.float32))
    with pytest.raises(ModelOutputError) as e:
        seg.predict(np.zeros((8, 8, 3), np.uint8))
    assert isinstance(e.value, ValueError)  # the batch loops report it per file and go on
    assert_one_line_naming(e.value, model_path)
