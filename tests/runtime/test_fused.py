"""The fused 8-bit post-processing against the float reference it replaced (tests/runtime/unfused.py).

The issue's bar: no visible difference, at most 2 grey levels anywhere in the frame.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import unfused
from conftest import disc_image

from segblur import Pipeline, RefineConfig
from segblur.assets import sample_path
from segblur.media.images import read_image
from segblur.names import EFFECTS
from segblur.runtime.compose import alpha8, composite, weighted_downscale
from segblur.runtime.effects import make_effect
from segblur.runtime.refine import refine
from segblur.runtime.workspace import Workspace

MAX_ERROR = 2  # grey levels


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """Smooth random colours, a few hard edges and sensor noise: what a frame has."""
    rng = np.random.default_rng(seed)
    img = cv2.resize(rng.integers(0, 256, (7, 9, 3), dtype=np.uint8), (w, h), interpolation=cv2.INTER_CUBIC)
    img[h // 3:h // 2, w // 4:w // 2] = rng.integers(0, 256, 3)
    return np.clip(img.astype(np.int16) + rng.integers(-4, 5, img.shape), 0, 255).astype(np.uint8)


def soft_alpha(h: int, w: int, seed: int = 1) -> np.ndarray:
    """A blob with a wide soft edge and a hard one, float32 in [0, 1]."""
    _, disc = disc_image(h, w, min(h, w) / 3)
    a = cv2.GaussianBlur(disc.astype(np.float32), (0, 0), 4)
    a[:, : w // 5] = np.random.default_rng(seed).random((h, w // 5)) > 0.5
    return np.clip(a, 0, 1)


def max_error(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.mark.parametrize("cfg", [RefineConfig(), RefineConfig(guided=False), RefineConfig(softness=0),
                                 RefineConfig(grow=5, feather=2.0), RefineConfig(grow=-20, feather=7.0)],
                         ids=["default", "bilinear", "hard", "grow-feather", "shrink-wide-feather"])
def test_8_bit_refine_is_the_float_matte_rounded(cfg: RefineConfig) -> None:
    img = photo(90, 120)
    prob = cv2.GaussianBlur(soft_alpha(24, 32), (0, 0), 1)
    exact = refine(prob, img, cfg) * 255
    fused = refine(prob, img, cfg, Workspace(), dtype=np.uint8)
    assert fused.dtype == np.uint8 and fused.shape == (90, 120)
    # rounding, plus the float order of the multiply-add; a wide feather rounds at its reduced size too
    assert np.abs(fused - exact).max() <= (1.0 if cfg.feather < 2 else 1.5)


def test_refine_refuses_other_dtypes() -> None:
    with pytest.raises(ValueError, match="dtype"):
        refine(np.zeros((4, 4), np.float32), np.zeros((8, 8, 3), np.uint8), dtype=np.float64)


@pytest.mark.parametrize("shape", [(72, 96), (61, 37), (720, 1280)], ids=str)
@pytest.mark.parametrize("bg_scale", [1, 6])
def test_composite_matches_the_float_blend(shape: tuple[int, int], bg_scale: int) -> None:
    h, w = shape
    frame, alpha = photo(h, w), soft_alpha(h, w)
    bg = photo(max(1, h // bg_scale), max(1, w // bg_scale), seed=2)
    reference = unfused.composite(frame, bg, alpha)
    assert max_error(composite(frame, bg, alpha8(alpha), Workspace()), reference) <= 1
    assert max_error(composite(frame, bg, alpha), reference) <= 1  # a float alpha takes the same path


def test_composite_is_exact_where_alpha_is_0_or_255() -> None:
    frame, bg = photo(40, 50), photo(40, 50, seed=3)
    a = np.zeros((40, 50), np.uint8)
    a[:, 25:] = 255
    out = composite(frame, bg, a)
    np.testing.assert_array_equal(out[:, 25:], frame[:, 25:])
    np.testing.assert_array_equal(out[:, :25], bg[:, :25])


def test_weighted_downscale_matches_the_float_premultiplication() -> None:
    frame, alpha = photo(240, 320), soft_alpha(240, 320)
    prem, w = weighted_downscale(frame, alpha8(alpha), (53, 40), Workspace())
    ref_prem, ref_w = unfused.weighted_downscale(frame, alpha, (53, 40))
    np.testing.assert_allclose(w, ref_w, atol=2 / 255)
    colour, ref_colour = prem / w[..., None], ref_prem / ref_w[..., None]
    bg = ref_w > 0.05  # where the background has weight enough for its colour to show
    assert np.abs(colour - ref_colour)[bg].max() <= 1.0


@pytest.mark.parametrize("name", [e for e in EFFECTS if e != "image"] + ["image"])
@pytest.mark.parametrize("strength", [0.3, 1.0])
def test_every_effect_composites_like_the_float_reference(name: str, strength: float) -> None:
    frame, alpha = photo(120, 160), soft_alpha(120, 160)
    kw = {"background": photo(50, 70, seed=4)} if name == "image" else {}
    effect = make_effect(name, strength, **kw)
    reference = unfused.composite(frame, unfused.background(effect, frame, alpha), alpha)
    a8 = alpha8(alpha)
    fused = composite(frame, effect.render(frame, a8, Workspace()), a8)
    assert max_error(fused, reference) <= MAX_ERROR


@pytest.mark.parametrize("effect", ["blur", "bokeh", "pixelate", "color"])
@pytest.mark.parametrize("invert", [False, True])
def test_pipeline_output_matches_the_unfused_pipeline(model_path: Path, effect: str, invert: bool) -> None:
    pipe = Pipeline(model_path, effect=effect, invert=invert, feather=1.5 if invert else 0.0)
    for seed, (h, w) in enumerate([(90, 120), (37, 53), (360, 640)]):
        frame = photo(h, w, seed)
        frame[:, : w // 3] = (230, 30, 40)  # a red "person" for the tiny model
        assert max_error(pipe.process(frame), unfused.process(pipe, frame)) <= MAX_ERROR
        np.testing.assert_array_equal(pipe.last_alpha8, alpha8(pipe.last_alpha))


def test_pipeline_output_matches_on_the_sample_photo_with_the_shipped_model() -> None:
    img = read_image(sample_path())
    for effect in ("blur", "box", "bokeh", "pixelate"):
        pipe = Pipeline(effect=effect)
        out, reference = pipe.process(img), unfused.process(pipe, img)
        assert max_error(out, reference) <= MAX_ERROR
        assert np.abs(out.astype(np.int16) - reference).mean() < 0.1  # almost everywhere exact
