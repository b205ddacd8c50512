"""Pipeline: one frame in, the same frame with its background changed out."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import BLUE, GREEN, RED, split_image

from segblur import Pipeline, Segmenter
from segblur.runtime.compose import composite
from segblur.runtime.effects import GaussianBlur, make_effect


def red_green(h: int = 48, w: int = 64) -> np.ndarray:
    """Red (person) left half, green (background) right half."""
    return split_image(h, w)


@pytest.fixture
def pipe(model_path: Path) -> Pipeline:
    return Pipeline(model_path)


@pytest.mark.parametrize("shape", [(48, 64, 3), (37, 53, 3), (64, 48, 3), (9, 7, 3)], ids=str)
def test_process_returns_same_shape_and_dtype(pipe: Pipeline, shape: tuple[int, ...]) -> None:
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    out = pipe.process(img)
    assert out.shape == shape and out.dtype == np.uint8
    assert pipe(img).shape == shape  # __call__ is process


@pytest.mark.parametrize("convert", [lambda a: a[..., 0], lambda a: a[..., :1], lambda a: np.dstack([a, a[..., 0]])],
                         ids=["gray", "gray-hw1", "rgba"])
def test_gray_and_rgba_input_gives_rgb(pipe: Pipeline, convert) -> None:
    img = convert(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    out = pipe.process(img)
    assert out.shape == (40, 50, 3) and out.dtype == np.uint8


def test_sizes_can_change_between_frames(pipe: Pipeline) -> None:
    sizes = [(48, 64), (96, 72), (20, 30), (48, 64), (33, 97)]
    for h, w in sizes:
        img = red_green(h, w)
        out = pipe.process(img)
        assert out.shape == (h, w, 3)
        fresh = Pipeline(pipe.segmenter).process(img)
        np.testing.assert_array_equal(out, fresh)  # reused buffers give the same result as new ones


def test_earlier_results_are_not_overwritten(pipe: Pipeline) -> None:
    a = pipe.process(red_green())
    kept = a.copy()
    pipe.process(red_green(48, 64)[:, ::-1].copy())
    np.testing.assert_array_equal(a, kept)


def test_color_effect_replaces_background_and_keeps_person(model_path: Path) -> None:
    out = Pipeline(model_path, effect="color", color="#0000ff").process(red_green())
    assert np.all(out[:, :24] == RED)  # the person half is untouched
    assert np.all(out[:, 40:] == BLUE)  # the background half is the colour


def test_invert_applies_the_effect_to_the_foreground(model_path: Path) -> None:
    out = Pipeline(model_path, effect="color", color="#0000ff", invert=True).process(red_green())
    assert np.all(out[:, :24] == BLUE)
    assert np.all(out[:, 40:] == GREEN)


def test_default_blur_changes_background_near_the_edge_only(model_path: Path) -> None:
    img = red_green(64, 96)
    img[::8, 60:] = (0, 255, 255)  # texture in the background so a blur is visible
    out = Pipeline(model_path, effect="blur", strength=1.0).process(img)
    assert np.all(out[:, :40] == RED)
    assert not np.array_equal(out[:, 60:], img[:, 60:])


def test_keep_option_is_passed_to_the_segmenter(model3_path: Path) -> None:
    img = np.zeros((30, 60, 3), np.uint8)
    img[:, :20], img[:, 20:40], img[:, 40:] = RED, GREEN, BLUE
    out = Pipeline(model3_path, effect="color", color="black", keep=["car"]).process(img)
    assert np.all(out[:, 44:] == BLUE)  # car kept
    assert np.all(out[:, :16] == 0)  # person now background


def test_pipeline_accepts_a_segmenter(model_path: Path) -> None:
    seg = Segmenter(model_path)
    assert Pipeline(seg).segmenter is seg


def test_set_effect_switches_effect_and_strength(pipe: Pipeline) -> None:
    pipe.set_effect("pixelate", 0.3)
    assert pipe.effect.name == "pixelate" and pipe.effect.strength == 0.3
    pipe.set_effect(strength=0.8)  # same effect, new strength
    assert pipe.effect.name == "pixelate" and pipe.effect.strength == 0.8
    pipe.set_effect("box")  # a new effect gets its default strength
    assert pipe.effect.name == "box" and pipe.effect.strength == 0.5
    pipe.set_effect(GaussianBlur(0.1))
    assert pipe.effect.name == "blur" and pipe.effect.strength == 0.1


def test_set_effect_keeps_colour_and_background(model_path: Path) -> None:
    pipe = Pipeline(model_path, effect="color", color="#ff00ff", strength=1.0)
    pipe.set_effect(strength=0.5)
    assert pipe.effect.name == "color" and pipe.effect.color == (255, 0, 255) and pipe.effect.strength == 0.5
    pic = np.full((10, 10, 3), BLUE, np.uint8)
    pipe.set_effect("image", background=pic)
    pipe.set_effect(strength=0.0)
    assert pipe.effect.name == "image"
    out = pipe.process(red_green())
    assert np.all(out[:, 40:] == BLUE)
    pipe.set_effect("color")  # back to colour: the default colour, the picture is not a colour
    assert pipe.effect.name == "color"


def test_set_effect_changes_the_output(model_path: Path) -> None:
    pipe = Pipeline(model_path, effect="color", color="white")
    assert np.all(pipe.process(red_green())[:, 40:] == 255)
    pipe.set_effect(color="black")
    assert np.all(pipe.process(red_green())[:, 40:] == 0)


def test_set_effect_rejects_bad_values(pipe: Pipeline) -> None:
    with pytest.raises(ValueError):
        pipe.set_effect("sparkle")
    with pytest.raises(ValueError):
        pipe.set_effect(strength=2.0)
    assert pipe.effect.name == "blur"  # unchanged after a refused switch


def test_last_timings_have_every_stage(pipe: Pipeline) -> None:
    assert pipe.last_timings == {}
    pipe.process(red_green())
    t = pipe.last_timings
    assert set(t) == {"segment", "refine", "effect", "compose", "total"}
    assert all(v >= 0 for v in t.values())
    assert t["total"] >= max(t["segment"], t["refine"], t["effect"], t["compose"])
    assert pipe.last_alpha is not None and pipe.last_alpha.shape == (48, 64)


def test_mask_is_the_refined_alpha(pipe: Pipeline) -> None:
    m = pipe.mask(red_green())
    assert m.shape == (48, 64) and m.dtype == np.float32
    assert m[:, :24].min() > 0.99 and m[:, 40:].max() < 0.01


def test_unknown_effect_raises_value_error(model_path: Path) -> None:
    with pytest.raises(ValueError, match="sparkle"):
        Pipeline(model_path, effect="sparkle")


@pytest.mark.parametrize("kwargs", [{"strength": 5}, {"threshold": 1.5}, {"softness": 2}, {"feather": -1},
                                    {"effect": "image"}, {"effect": "color", "color": "nope"}])
def test_bad_options_raise_value_error(model_path: Path, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Pipeline(model_path, **kwargs)


def test_background_picture_from_a_file(model_path: Path, tmp_path: Path) -> None:
    bg = tmp_path / "bg.png"
    cv2.imwrite(str(bg), np.full((20, 20, 3), (255, 0, 0), np.uint8))  # BGR blue
    out = Pipeline(model_path, effect="image", background=bg, strength=0.0).process(red_green())
    assert np.all(out[:, 40:] == BLUE)


def test_default_pipeline_runs() -> None:
    img = np.random.default_rng(0).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    out = Pipeline().process(img)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_pipeline_mask_is_what_process_composites(model_path: Path) -> None:
    img = split_image(32, 48)
    p = Pipeline(model_path, effect="color", color=(0, 0, 0), invert=True)
    alpha = p.mask(img).copy()
    out = p.process(img)
    expect = composite(img, np.zeros_like(img), alpha)
    assert np.abs(out.astype(int) - expect).max() <= 1
    assert alpha[:, :8].mean() < 0.2  # red (person) side is now the part that gets the effect


def test_set_effect_with_an_effect_object_and_options_is_refused(model_path: Path) -> None:
    p = Pipeline(model_path)
    with pytest.raises(ValueError):
        p.set_effect(make_effect("blur"), strength=0.3)
