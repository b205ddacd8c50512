"""The transforms: padding, rotation, crops, colour changes, pasting, resizing, normalisation; all seeded by the
numpy Generator they are given."""

from __future__ import annotations

import cv2
import numpy as np
from coded import assert_aligned, coded_pair

from segblur.training.data.transforms import (
    MEAN,
    STD,
    color_jitter,
    eval_resize,
    normalize,
    paste_cutout,
    paste_on_background,
    photometric,
    random_aspect_crop,
    random_shape_crop,
    resize_max_side,
    scale_rotate_crop,
)


def test_small_image_padded_with_mean_and_ignore() -> None:
    image, mask = coded_pair(40, 40)
    out, out_mask = scale_rotate_crop(image, mask, 32, 0.5, 0.0, np.random.default_rng(3))
    labelled = out_mask != 255
    assert labelled.sum() == 16 * 16  # the image is fitted to 32 px, then halved
    ys, xs = np.nonzero(labelled)
    assert ys.max() - ys.min() == 15 and xs.max() - xs.min() == 15
    assert (out[~labelled] == np.round(MEAN).astype(np.uint8)).all()


def test_rotation_pads_corners_with_ignore() -> None:
    image, mask = coded_pair(40, 40)
    _, out_mask = scale_rotate_crop(image, mask, 40, 1.0, 45.0, np.random.default_rng(0))
    assert out_mask[0, 0] == 255 or out_mask[-1, -1] == 255 or out_mask[0, -1] == 255 or out_mask[-1, 0] == 255


def test_large_scale_crops_inside_image() -> None:
    image, mask = coded_pair(40, 40)
    out, out_mask = scale_rotate_crop(image, mask, 32, 2.0, 0.0, np.random.default_rng(1))
    assert (out_mask != 255).all()
    assert_aligned(out, out_mask)


def test_color_jitter_is_light() -> None:
    image = np.full((8, 8, 3), (200, 40, 40), np.uint8)
    assert color_jitter(image, 0.0, np.random.default_rng(0)) is image
    out = color_jitter(image, 0.25, np.random.default_rng(0))
    assert out.shape == image.shape and out.dtype == np.uint8
    assert (np.argmax(out, axis=2) == 0).all()  # still red


def test_paste_on_background_replaces_only_background() -> None:
    image = np.zeros((40, 40, 3), np.uint8)
    image[:] = (0, 255, 0)
    mask = np.zeros((40, 40), np.uint8)
    mask[10:30, 10:30] = 1
    image[mask == 1] = (255, 0, 0)
    background = np.full((30, 50, 3), (0, 0, 255), np.uint8)
    out = paste_on_background(image, mask, background, np.random.default_rng(0))
    assert (out[14:26, 14:26] == (255, 0, 0)).all()
    assert (out[:5] == (0, 0, 255)).all() and (out[:, -5:] == (0, 0, 255)).all()


def test_eval_resize_and_normalize() -> None:
    image = np.full((37, 53, 3), np.round(MEAN).astype(np.uint8), np.uint8)
    assert eval_resize(image, 32).shape == (32, 32, 3)
    assert eval_resize(image, 64).shape == (64, 64, 3)
    x = normalize(np.full((4, 5, 3), (123.675 + 58.395, 116.28, 103.53 - 57.375)).astype(np.uint8))
    assert x.shape == (3, 4, 5) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0, 0], [1.0, 0.0, -1.0], atol=0.02)
    assert STD == (58.395, 57.12, 57.375)


def test_eval_resize_keep_gives_the_runtimes_input_size() -> None:
    image = np.zeros((720, 1280, 3), np.uint8)
    assert eval_resize(image, 192, "keep").shape == (144, 256, 3)
    assert eval_resize(image[:600, :450], 192, "keep").shape == (224, 160, 3)
    assert eval_resize(image, 192).shape == (192, 192, 3)


def test_resize_max_side() -> None:
    image, mask = coded_pair(60, 80)
    small, small_mask = resize_max_side(image, mask, 40)
    assert small.shape == (30, 40, 3) and small_mask.shape == (30, 40)
    assert set(np.unique(small_mask).tolist()) <= {0, 1, 2}
    same, same_mask = resize_max_side(image, mask, 80)
    assert same is image and same_mask is mask

def person_pair(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise with a red standing "person" (class 1) cut off at the bottom, and a band of ignore (255) beside it."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 100, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4:, w // 3: 2 * w // 3] = 1
    img[mask == 1] = (250, 0, 0)
    mask[h // 4:, 2 * w // 3: 2 * w // 3 + 3] = 255
    return img, mask


def test_random_aspect_crop_stretches_to_the_square_and_keeps_labels() -> None:
    img, mask = person_pair(60, 40, 0)
    for seed in range(8):
        out, out_mask = random_aspect_crop(img, mask, 32, 0.35, 2.0, np.random.default_rng(seed))
        assert out.shape == (32, 32, 3) and out_mask.shape == (32, 32)
        assert set(np.unique(out_mask).tolist()) <= {0, 1, 255}
        inner = (out_mask == 1) & (np.roll(out_mask, 2, 1) == 1) & (np.roll(out_mask, -2, 1) == 1)
        assert (out[inner][:, 0] > 200).all()  # person pixels stay under the person label
    full = np.ones((40, 40), np.uint8)
    _, m = random_aspect_crop(np.zeros((40, 40, 3), np.uint8), full, 24, 0.35, 2.0, np.random.default_rng(1))
    assert (m == 1).all()  # a person filling the frame stays all person


def test_random_shape_crop_keeps_the_people_s_proportions_and_labels() -> None:
    img, mask = person_pair(60, 40, 0)
    for seed, shape in zip(range(12), [(16, 32), (32, 16), (24, 24)] * 4):
        rng = np.random.default_rng(seed)
        out, out_mask = random_shape_crop(img, mask, shape, 0.35, rng)
        assert out.shape == (*shape, 3) and out_mask.shape == shape
        assert set(np.unique(out_mask).tolist()) <= {0, 1, 255}
        inner = cv2.erode((out_mask == 1).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        assert (out[inner][:, 0] > 200).all()
    # At the target's aspect (no jitter) a square stays square: a 2:1 view of a 2:1 photo, and 1:2 of 1:2.
    for shape in ((40, 80), (80, 40)):
        sq = np.zeros((shape[0] * 5 // 2, shape[1] * 5 // 2), np.uint8)
        cy, cx = sq.shape[0] // 2, sq.shape[1] // 2
        sq[cy - 20:cy + 20, cx - 20:cx + 20] = 1
        _, m = random_shape_crop(np.zeros((*sq.shape, 3), np.uint8), sq, shape, 1.0, np.random.default_rng(0),
                                 jitter=1.0)
        rows, cols = np.flatnonzero(m.any(1)), np.flatnonzero(m.any(0))
        assert rows[-1] - rows[0] + 1 == cols[-1] - cols[0] + 1 == 16


def test_paste_cutout_puts_the_person_on_top_of_the_canvas_labels() -> None:
    img, mask = person_pair(60, 40, 1)
    canvas = np.full((50, 80, 3), (0, 0, 255), np.uint8)
    canvas_mask = np.zeros((50, 80), np.uint8)
    canvas_mask[:, :10] = 255  # an unlabelled region of the other photo stays unlabelled
    for seed in range(6):
        out, out_mask = paste_cutout(img, mask, canvas, canvas_mask, np.random.default_rng(seed))
        assert out.shape[:2] == out_mask.shape and out.dtype == np.uint8
        assert (out_mask == 1).sum() > 20 and set(np.unique(out_mask).tolist()) <= {0, 1, 255}
        clear = cv2.erode((out_mask == 0).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
        assert clear.any() and (out[clear][:, 2] > 200).all()  # background, off the feathered edge: the canvas
        solid = (out_mask == 1) & (np.roll(out_mask, 3, 1) == 1) & (np.roll(out_mask, -3, 1) == 1)
        assert (out[solid][:, 0] > 150).all()  # the red person, away from its feathered edge
    np.testing.assert_array_equal(person_pair(60, 40, 1)[1], mask)  # inputs unchanged


def test_photometric_is_seeded_and_keeps_the_picture() -> None:
    img, _ = person_pair(30, 30, 2)
    a = photometric(img, np.random.default_rng(4), p_gray=0.5, p_blur=0.5, p_noise=0.5)
    b = photometric(img, np.random.default_rng(4), p_gray=0.5, p_blur=0.5, p_noise=0.5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == img.shape and a.dtype == np.uint8
    grey = photometric(img, np.random.default_rng(0), p_gray=1.0, p_blur=0.0, p_noise=0.0)
    assert (np.ptp(grey.astype(int), axis=2) <= 1).all()


def test_transforms_are_deterministic_per_generator() -> None:
    image, mask = coded_pair()
    a = scale_rotate_crop(image, mask, 32, 1.3, 10.0, np.random.default_rng(3))
    b = scale_rotate_crop(image, mask, 32, 1.3, 10.0, np.random.default_rng(3))
    np.testing.assert_array_equal(a[0], b[0])
    assert_aligned(*a)
