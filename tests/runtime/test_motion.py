"""Motion between thumbnails: box changes, optical flow where it explains the picture, identity where it does not."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from segblur.runtime.motion import OUTSIDE, Motion, box_affine, full_box


def texture(h: int = 64, w: int = 80, seed: int = 0) -> np.ndarray:
    """Smooth random texture in 0..1 (float32): something optical flow can lock on to."""
    small = np.random.default_rng(seed).random((h // 8, w // 8)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def test_box_affine_is_the_identity_for_one_box_and_maps_pixel_centres() -> None:
    assert box_affine((10, 20, 110, 220), (10, 20, 110, 220), (50, 100)) == (1.0, 0.0, 1.0, 0.0)
    # A 100 px wide box on a 50 px grid (2 px per cell), seen from a box shifted 20 px right of it: 10 cells back.
    ax, bx, ay, by = box_affine((20, 0, 120, 100), (0, 0, 100, 100), (50, 50))
    assert (ax, ay) == (1.0, 1.0) and bx == pytest.approx(10.0) and by == pytest.approx(0.0)
    # The whole frame seen from a crop of its left half: each cell covers half a cell of the crop's grid... twice.
    ax, bx, _, _ = box_affine((0, 0, 100, 100), (0, 0, 50, 100), (10, 10))
    assert ax == pytest.approx(2.0) and bx == pytest.approx(0.5)  # cell 0's centre (5 px) is at 0.5 + 0.5 cells


def test_box_affine_maps_between_grids_of_different_sizes() -> None:
    # One box, a 64x48 grid now and a 32x48 grid before: cell u's centre (u + 0.5 of 64) is at (u + 0.5) / 2 - 0.5.
    ax, bx, ay, by = box_affine((0, 0, 64, 48), (0, 0, 64, 48), (64, 48), (32, 48))
    assert (ax, bx, ay, by) == (pytest.approx(0.5), pytest.approx(-0.25), 1.0, 0.0)


def test_a_previous_thumbnail_of_another_size_is_resampled_onto_this_grid() -> None:
    # A kept-aspect model's maps change size with the crop's shape: the same still scene must read as still.
    big = texture(96, 120, seed=3)
    cur = cv2.resize(big, (80, 48), interpolation=cv2.INTER_AREA)  # this frame: 80x48 cells over the frame
    prev = cv2.resize(big, (64, 64), interpolation=cv2.INTER_AREA)  # the last: 64x64 over the same frame
    box = full_box((96, 120))
    warp = Motion(flow=False).estimate(cur, box, prev, box)
    assert warp.map_x.shape == cur.shape and warp.mean < 0.02
    np.testing.assert_allclose(warp.apply(prev)[4:-4, 4:-4], cur[4:-4, 4:-4], atol=0.05)


def test_maps_of_two_sizes_with_one_origin_and_cell_size_are_resampled() -> None:
    # Crops 448x320 and 512x288 pinned at the frame's corner: kept-aspect maps 224x160 and 256x144, 2 px a cell
    # both, so the box affine is the identity; the previous thumbnail must still be brought onto this grid.
    a, b = (0, 0, 448, 320), (0, 0, 512, 288)
    prev, cur = np.full((160, 224), 0.5, np.float32), np.full((144, 256), 0.5, np.float32)
    warp = Motion(flow=False).estimate(cur, b, prev, a)
    assert warp.map_x.shape == cur.shape and warp.mean < 1e-6
    assert np.all(warp.apply(np.ones((160, 224), np.float32))[:, :200] == 1)  # inside the old crop: its map


def test_motion_counts_only_what_the_previous_map_covered_when_sizes_differ() -> None:
    # The last map saw a crop (the left 480 of 1280 px) at 240x160, this one the whole frame at 256x144. The crop's
    # part is unchanged; someone bright walked in on the right, which the last map never saw: no change to count.
    rng = np.random.default_rng(0)
    frame = 0.1 + 0.1 * cv2.resize(rng.random((45, 80)).astype(np.float32), (1280, 720),
                                   interpolation=cv2.INTER_CUBIC).clip(0, 1)
    now = frame.copy()
    now[:, 480:] = 0.9
    prev = cv2.resize(frame[:, :480], (160, 240), interpolation=cv2.INTER_AREA)
    cur = cv2.resize(now, (256, 144), interpolation=cv2.INTER_AREA)
    warp = Motion(flow=False).estimate(cur, full_box((720, 1280)), prev, (0, 0, 480, 720))
    assert warp.mean < 0.02


def test_a_shifted_texture_is_followed() -> None:
    prev = texture()
    cur = np.roll(prev, 3, axis=1)  # the picture moved 3 px right
    warp = Motion().estimate(cur, full_box((64, 80)), prev, full_box((64, 80)))
    inner = (slice(8, -8), slice(12, -12))
    assert np.median(warp.map_x[inner] - np.arange(80)[None, 12:-12]) == pytest.approx(-3, abs=0.5)
    np.testing.assert_allclose(warp.apply(prev)[inner], cur[inner], atol=0.05)
    assert warp.mean < 0.03


def test_flow_is_not_followed_where_standing_still_explains_the_picture() -> None:
    rng = np.random.default_rng(1)
    base = np.tile(np.linspace(0.3, 0.7, 48, dtype=np.float32), (40, 1))  # a flat ramp: flow is noise here
    a = (base + rng.normal(0, 0.01, base.shape)).astype(np.float32)
    b = (base + rng.normal(0, 0.01, base.shape)).astype(np.float32)
    warp = Motion().estimate(b, full_box((40, 48)), a, full_box((40, 48)))
    gy, gx = np.mgrid[:40, :48]
    still = (warp.map_x == gx) & (warp.map_y == gy)
    assert still.mean() > 0.98  # a flow of noise is followed almost nowhere...
    assert np.abs(warp.map_x - gx).max() < 0.25  # ...and never across the ramp


def test_without_flow_and_for_tiny_maps_only_the_box_is_followed() -> None:
    prev = texture(10, 10)
    for motion, cur in ((Motion(flow=False), texture(64, 80, 1)), (Motion(), np.roll(prev, 1, 1))):
        h, w = cur.shape
        p = prev if cur.shape == prev.shape else texture(h, w, 2)
        warp = motion.estimate(cur, full_box((h, w)), p, full_box((h, w)))
        gy, gx = np.mgrid[:h, :w]
        np.testing.assert_array_equal(warp.map_x, gx)
        np.testing.assert_array_equal(warp.map_y, gy)


def test_a_moved_crop_is_followed_and_unknown_parts_are_marked() -> None:
    frame = texture(100, 100)
    shape = (100, 100)
    # The same still frame seen through a 50x50 crop, then through the crop moved 20 px right (grids of 25x25).
    prev_box, box = (10, 20, 60, 70), (30, 20, 80, 70)
    thumb = lambda b: cv2.resize(frame[b[1]:b[3], b[0]:b[2]], (25, 25), interpolation=cv2.INTER_AREA)  # noqa: E731
    warp = Motion(flow=False).estimate(thumb(box), box, thumb(prev_box), prev_box)
    state = np.arange(25 * 25, dtype=np.float32).reshape(25, 25)  # any map over the previous crop
    out = warp.apply(state)
    np.testing.assert_allclose(out[:, :14], state[:, 10:24], atol=1e-4)  # 20 px = 10 cells to the left
    assert (out[:, 16:] < 0).all() and OUTSIDE < 0  # right of the old crop: nothing known
    assert warp.mean < 0.02 and full_box(shape) == (0, 0, 100, 100)
