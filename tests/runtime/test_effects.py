"""Effects and compositing: every effect renders a usable background; neighbourhood effects are halo-free."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from conftest import BLUE, GREEN, RED, disc_image

from segblur import list_effects
from segblur.runtime.compose import composite, unpremultiply, weighted_downscale
from segblur.runtime.effects import EFFECTS, Effect, make_effect, parse_color
from segblur.runtime.workspace import Workspace

BACKGROUND = np.full((50, 70, 3), (10, 200, 30), np.uint8)


def effect(name: str, strength: float | None = None, **kw) -> Effect:
    if name == "image":
        kw.setdefault("background", BACKGROUND)
    return make_effect(name, strength, **kw)


def test_list_effects_names_every_effect() -> None:
    names = list_effects()
    assert set(names) == {"blur", "box", "bokeh", "pixelate", "grayscale", "color", "image"}
    assert names == list(EFFECTS)


@pytest.mark.parametrize("name", list_effects())
@pytest.mark.parametrize("strength", [0.0, 0.4, 1.0])
@pytest.mark.parametrize("shape", [(72, 96), (61, 37), (9, 13)], ids=str)
def test_effect_renders_a_background_the_compositor_can_use(name: str, strength: float,
                                                            shape: tuple[int, int]) -> None:
    H, W = shape
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    alpha = (rng.random((H, W)) > 0.5).astype(np.float32)
    bg = effect(name, strength).render(frame, alpha)
    assert bg.dtype == np.uint8 and bg.ndim == 3 and bg.shape[2] == 3
    h, w = bg.shape[:2]
    assert h <= H and w <= W
    if (h, w) != (H, W):  # a smaller image must keep the frame's aspect ratio (within rounding)
        assert abs(w * H / h - W) <= W / w + 1
    out = composite(frame, bg, alpha)
    assert out.shape == frame.shape and out.dtype == np.uint8


@pytest.mark.parametrize("name", list_effects())
def test_effect_with_workspace_matches_without(name: str) -> None:
    frame, mask = disc_image(64, 80, 20)
    alpha = mask.astype(np.float32)
    ws = Workspace()
    e = effect(name, 0.7)
    a = e.render(frame, alpha).copy()
    b = e.render(frame, alpha, ws)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list_effects())
@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan")])
def test_strength_outside_unit_range_raises(name: str, strength: float) -> None:
    with pytest.raises(ValueError):
        effect(name, strength)


def test_unknown_effect_name_raises() -> None:
    with pytest.raises(ValueError, match="sparkle"):
        make_effect("sparkle")


def test_make_effect_passes_an_effect_through() -> None:
    e = make_effect("blur", 0.3)
    assert make_effect(e) is e


def test_image_effect_needs_a_background() -> None:
    with pytest.raises(ValueError):
        make_effect("image")


def test_default_strengths() -> None:
    assert make_effect("blur").strength == 0.5
    assert make_effect("grayscale").strength == 1.0
    assert make_effect("color").strength == 1.0


@pytest.mark.parametrize("name", list_effects())
def test_alpha_one_everywhere_returns_the_frame(name: str) -> None:
    frame = np.random.default_rng(3).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    alpha = np.ones((40, 56), np.float32)
    out = composite(frame, effect(name, 1.0).render(frame, alpha), alpha)
    np.testing.assert_array_equal(out, frame)


def test_alpha_zero_with_color_effect_gives_the_colour() -> None:
    frame = np.random.default_rng(3).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    alpha = np.zeros((40, 56), np.float32)
    out = composite(frame, make_effect("color", 1.0, color="#123456").render(frame, alpha), alpha)
    assert np.all(out == (0x12, 0x34, 0x56))


def test_color_strength_is_its_opacity() -> None:
    frame = np.full((16, 16, 3), 200, np.uint8)
    alpha = np.zeros((16, 16), np.float32)
    out = composite(frame, make_effect("color", 0.5, color=(0, 0, 0)).render(frame, alpha), alpha)
    assert np.all(np.abs(out.astype(int) - 100) <= 1)


def test_grayscale_makes_the_background_gray() -> None:
    frame = np.zeros((16, 16, 3), np.uint8)
    frame[:] = (200, 40, 90)
    bg = make_effect("grayscale", 1.0).render(frame, np.zeros((16, 16), np.float32))
    assert np.all(bg[..., 0] == bg[..., 1]) and np.all(bg[..., 1] == bg[..., 2])
    partial = make_effect("grayscale", 0.5).render(frame, np.zeros((16, 16), np.float32))
    assert 0 < int(partial[0, 0, 0]) - int(partial[0, 0, 1]) < 160


def test_image_effect_covers_the_frame_with_the_picture() -> None:
    pic = np.zeros((30, 60, 3), np.uint8)
    pic[:, :30], pic[:, 30:] = RED, BLUE  # wider than the frame: scaled to cover, centred crop
    frame = np.zeros((48, 48, 3), np.uint8)
    bg = make_effect("image", 0.0, background=pic).render(frame, np.zeros((48, 48), np.float32))
    assert bg.shape == (48, 48, 3)
    assert np.all(bg[:, :20] == RED) and np.all(bg[:, 28:] == BLUE)


def test_image_effect_accepts_gray_and_rgba_pictures() -> None:
    frame = np.zeros((20, 30, 3), np.uint8)
    alpha = np.zeros((20, 30), np.float32)
    gray = make_effect("image", background=np.full((10, 10), 90, np.uint8)).render(frame, alpha)
    assert gray.shape == (20, 30, 3) and np.all(gray == 90)
    rgba = make_effect("image", background=np.full((10, 10, 4), 60, np.uint8)).render(frame, alpha)
    assert rgba.shape == (20, 30, 3) and np.all(rgba == 60)


def test_image_effect_strength_blurs_the_picture() -> None:
    pic = np.zeros((64, 64, 3), np.uint8)
    pic[:, 32:] = 255
    frame = np.zeros((64, 64, 3), np.uint8)
    alpha = np.zeros((64, 64), np.float32)
    sharp = make_effect("image", 0.0, background=pic).render(frame, alpha)
    blurred = make_effect("image", 1.0, background=pic).render(frame, alpha)
    assert blurred.shape == (64, 64, 3)
    assert sharp[32, 30, 0] == 0 and sharp[32, 33, 0] == 255
    assert 10 < blurred[32, 30, 0] < blurred[32, 33, 0] < 245


@pytest.mark.parametrize("name", ["blur", "box", "bokeh"])
def test_blurs_actually_blur(name: str) -> None:
    frame = np.zeros((96, 96, 3), np.uint8)
    frame[:, 48:] = 255
    alpha = np.zeros((96, 96), np.float32)
    out = composite(frame, make_effect(name, 1.0).render(frame, alpha), alpha)
    assert 5 < out[48, 46, 0] < 250 and 5 < out[48, 50, 0] < 250


# --- halo-free: a saturated red disc (foreground) on a uniform blue background ---------------------

def _disc_scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame, mask = disc_image(96, 96, 24, inside=RED, outside=BLUE)
    yy, xx = np.mgrid[:96, :96]
    d = np.hypot(yy - 47.5, xx - 47.5)
    ring = (d > 24.5) & (d <= 28)  # background pixels just outside the disc
    return frame, mask, ring


@pytest.mark.parametrize("name", ["blur", "box"])
@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_blur_has_no_halo(name: str, strength: float) -> None:
    frame, mask, ring = _disc_scene()
    alpha = mask.astype(np.float32)
    out = composite(frame, make_effect(name, strength).render(frame, alpha), alpha)
    assert np.all(out[mask] == RED)  # the foreground is untouched
    assert out[ring][:, 0].max() < 20  # no red bleeding into the background
    assert out[ring][:, 2].min() > 235  # which stays blue
    # A naive blur of the whole frame with the same sigma is clearly reddish there.
    sigma = make_effect("blur", strength).size_px(frame)
    naive = cv2.GaussianBlur(frame, (0, 0), sigma)
    assert naive[ring][:, 0].max() > 80 and naive[ring][:, 0].mean() > 30


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_pixelate_has_no_halo(strength: float) -> None:
    frame, mask, ring = _disc_scene()
    alpha = mask.astype(np.float32)
    out = composite(frame, make_effect("pixelate", strength).render(frame, alpha), alpha)
    assert np.all(out[mask] == RED)
    assert out[ring][:, 0].max() < 20


def test_naive_pixelate_would_have_a_halo() -> None:
    # Proves the scene above can show a halo: plain block averages of the frame are reddish outside.
    frame, mask, ring = _disc_scene()
    block = round(min(frame.shape[:2]) / 8)
    small = cv2.resize(frame, (96 // block, 96 // block), interpolation=cv2.INTER_AREA)
    naive = cv2.resize(small, (96, 96), interpolation=cv2.INTER_NEAREST)
    assert naive[ring][:, 0].max() > 60


def test_pixelate_background_stays_blue_away_from_the_disc() -> None:
    frame, mask, _ = _disc_scene()
    alpha = mask.astype(np.float32)
    out = composite(frame, make_effect("pixelate", 1.0).render(frame, alpha), alpha)
    yy, xx = np.mgrid[:96, :96]
    far = np.hypot(yy - 47.5, xx - 47.5) > 24 + 96 / 8 * 1.5  # beyond any block touching the disc
    assert np.all(out[far] == BLUE)


def test_pixelate_blocks_are_block_averages() -> None:
    frame = np.zeros((96, 96, 3), np.uint8)
    frame[:, 84:] = 255  # the last column of 12 px blocks is white, the rest black
    bg = make_effect("pixelate", 1.0).render(frame, np.zeros((96, 96), np.float32))
    assert np.all(bg[:, :84] <= 1)
    assert np.all(bg[:, 84:] >= 254)


def test_bokeh_has_no_halo() -> None:
    frame, mask, ring = _disc_scene()
    alpha = mask.astype(np.float32)
    out = composite(frame, make_effect("bokeh", 1.0).render(frame, alpha), alpha)
    assert out[ring][:, 0].max() < 20


def test_pixelate_makes_blocks() -> None:
    frame = np.random.default_rng(0).integers(0, 256, (96, 96, 3), dtype=np.uint8)
    bg = make_effect("pixelate", 1.0).render(frame, np.zeros((96, 96), np.float32))
    assert bg.shape == frame.shape
    block = bg[:12, :12].reshape(-1, 3)
    assert np.all(block == block[0])  # one colour per 12 px block
    assert len(np.unique(bg.reshape(-1, 3), axis=0)) <= 64


# --- compose helpers ---------------------------------------------------------------------------------

def test_composite_blends_linearly_and_returns_a_new_array() -> None:
    frame = np.full((8, 10, 3), 200, np.uint8)
    bg = np.full((8, 10, 3), 100, np.uint8)
    alpha = np.full((8, 10), 0.25, np.float32)
    out = composite(frame, bg, alpha)
    assert np.all(np.abs(out.astype(int) - 125) <= 1)
    assert out is not frame and out is not bg
    ws = Workspace()
    first = composite(frame, bg, alpha, ws)
    kept = first.copy()
    composite(frame, np.zeros_like(bg), alpha, ws)
    np.testing.assert_array_equal(first, kept)  # the caller's result is not overwritten


def test_composite_upsamples_a_smaller_background() -> None:
    frame = np.zeros((40, 60, 3), np.uint8)
    bg = np.full((4, 6, 3), GREEN, np.uint8)
    out = composite(frame, bg, np.zeros((40, 60), np.float32))
    assert out.shape == (40, 60, 3) and np.all(out == GREEN)


def test_weighted_downscale_ignores_the_foreground() -> None:
    frame, mask = disc_image(64, 64, 20, inside=RED, outside=BLUE)
    prem, w = weighted_downscale(frame, mask.astype(np.float32), (16, 16))
    assert prem.shape == (16, 16, 3) and w.shape == (16, 16)
    colour = unpremultiply(prem, w)
    assert colour.dtype == np.uint8
    assert colour[0, 0].tolist() == list(BLUE)
    assert colour[8, 8, 0] > 200  # deep inside only the floor weight remains: still defined


def test_unpremultiply_divides_by_weight() -> None:
    prem = np.full((2, 2, 3), 50.0, np.float32)
    w = np.full((2, 2), 0.5, np.float32)
    assert np.all(unpremultiply(prem, w) == 100)
    assert np.all(unpremultiply(prem, np.zeros((2, 2), np.float32)) == 255)  # clipped, no division error


# --- parse_color -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "rgb"), [
    ("#ff0000", (255, 0, 0)), ("#00FF7f", (0, 255, 127)), ("  #0A0b0C ", (10, 11, 12)),
    ("255,0,0", (255, 0, 0)), ("1, 2, 3", (1, 2, 3)), ("black", (0, 0, 0)), ("White", (255, 255, 255)),
    ("green", (0, 177, 64)), ("grey", (128, 128, 128)), ((9, 8, 7), (9, 8, 7)), ([0, 0, 255], (0, 0, 255)),
    ("red", (255, 0, 0)), ("Navy", (0, 0, 128)), (" hotpink ", (255, 105, 180)), ("rebeccapurple", (102, 51, 153)),
    ("lime", (0, 255, 0)), ("#f0a", (255, 0, 170)),
])
def test_parse_color_accepts(text: object, rgb: tuple[int, int, int]) -> None:
    assert parse_color(text) == rgb  # type: ignore[arg-type]


@pytest.mark.parametrize("junk", ["", "#ff00", "#gg0000", "red-ish", "1,2", "1,2,3,4", "256,0,0", "-1,0,0",
                                  "a,b,c", "#ff00000", (1, 2), (0, 0, 300)])
def test_parse_color_rejects_junk(junk: object) -> None:
    with pytest.raises(ValueError):
        parse_color(junk)  # type: ignore[arg-type]


def test_color_effect_rejects_a_bad_colour() -> None:
    with pytest.raises(ValueError):
        make_effect("color", color="not a colour")


def test_bokeh_keeps_foreground_colour_out_of_the_background() -> None:
    frame, mask = disc_image(96, 96, 24, inside=(255, 255, 255), outside=(0, 0, 0))
    yy, xx = np.mgrid[:96, :96]
    ring = (np.hypot(yy - 47.5, xx - 47.5) > 24.5) & (np.hypot(yy - 47.5, xx - 47.5) <= 30)
    alpha = mask.astype(np.float32)
    out = composite(frame, make_effect("bokeh", 1.0).render(frame, alpha), alpha)
    assert out[ring].max() <= 3  # the white subject must not bloom into the black background


def test_partial_colour_is_a_tint() -> None:
    frame = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = make_effect("color", 0.25, color=(255, 0, 0)).render(frame, np.zeros((20, 30), np.float32))
    expect = np.round(frame * 0.75 + np.array([255, 0, 0]) * 0.25)
    assert np.abs(out.astype(int) - expect).max() <= 1
