"""The band of a matte: where it is mixed, all 255 or all 0, tile by tile (the blend runs only where mixed)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_fused import photo, soft_alpha

from segblur.runtime.band import BG, FG, MIXED, band_of, runs
from segblur.runtime.compose import Blend, alpha8
from segblur.runtime.workspace import Workspace


def painted(band, shape: tuple[int, int]) -> np.ndarray:
    """The band's states painted on the frame: BG everywhere, then its solid and mixed runs."""
    states = np.full(shape, BG, np.uint8)
    for r in band.solid:
        states[r] = FG
    for r in band.mixed:
        assert (states[r] == BG).all()  # runs never overlap
        states[r] = MIXED
    return states


@pytest.mark.parametrize("shape", [(720, 1280), (61, 37), (5, 3), (1080, 1920)], ids=str)
def test_band_of_is_exact_where_it_says_0_or_255(shape: tuple[int, int]) -> None:
    a = alpha8(soft_alpha(*shape))
    a[: shape[0] // 2, shape[1] // 2:] = 255  # a solid block beside the soft blob
    band = band_of(a)
    states = painted(band, shape)
    assert (a[states == BG] == 0).all() and (a[states == FG] == 255).all()
    assert ((a > 0) & (a < 255))[states != MIXED].sum() == 0
    if shape[0] >= 64:
        assert 0 < band.mixed_share < 0.9 and band.solid  # it does cut the frame


def test_a_lone_pure_tile_between_mixed_ones_joins_them() -> None:
    states = np.array([[MIXED, FG, MIXED, BG, BG, MIXED]], np.uint8)
    band = runs(states, np.array([0, 4]), np.arange(0, 70, 10)[:7])
    assert [r[1] for r in band.mixed] == [slice(0, 30), slice(50, 60)] and band.solid == []


def test_blend_of_a_banded_matte_is_the_full_frame_blend() -> None:
    h, w = 200, 300
    frame, bg = photo(h, w), photo(h // 6, w // 6, seed=5)
    a = alpha8(soft_alpha(h, w))
    a[:100, 150:] = 255
    out = Blend(bg, a, frame.shape, Workspace()).apply(frame, Workspace())
    up = cv2.resize(bg, (w, h)).astype(np.float32)
    a3 = a[..., None].astype(np.float32)
    full = np.round(frame * a3 / 255) + np.round(up * (255 - a3) / 255)
    np.testing.assert_array_equal(out, full)  # each product rounded once, as before the band


def test_a_blend_made_once_blends_in_place_and_only_once() -> None:
    frame, bg, a = photo(60, 80), photo(10, 14, seed=6), alpha8(soft_alpha(60, 80))
    kept = Blend(bg, a, frame.shape)
    once = Blend(bg, a, frame.shape, once=True)
    out = once.apply(frame)
    np.testing.assert_array_equal(out, kept.apply(frame))
    np.testing.assert_array_equal(kept.apply(frame), out)  # a kept one applies again
    with pytest.raises(RuntimeError, match="once"):
        once.apply(frame)
