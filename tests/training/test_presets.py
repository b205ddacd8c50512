"""Presets per dataset kind: the generic preset keeps image and mask aligned, the person preset pastes, crops,
flips and colours from one seeded Generator, and teacher-mask ignore survives every step."""

from __future__ import annotations

import numpy as np
import pytest
from coded import COLOURS, assert_aligned, coded_pair

from segblur.training.data.presets import (
    HALF,
    AugmentOptions,
    PersonAugmentOptions,
    augment,
    augment_options,
    augment_person,
    default_augment,
    normalization,
    train_preset,
)
from segblur.training.data.transforms import MEAN, STD


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("jitter", [0.0, 0.25])
def test_augment_keeps_image_and_mask_aligned(seed: int, jitter: float) -> None:
    image, mask = coded_pair(seed=seed)
    opts = AugmentOptions(scale=(0.5, 2.0), flip=True, jitter=jitter, rotate=20.0)
    out, out_mask = augment(image, mask, 48, opts, np.random.default_rng(seed))
    assert out.shape == (48, 48, 3) and out.dtype == np.uint8
    assert out_mask.shape == (48, 48) and out_mask.dtype == np.uint8
    assert set(np.unique(out_mask).tolist()) <= {0, 1, 2, 255}
    assert_aligned(out, out_mask)


def test_flip_mirrors_image_and_mask_together() -> None:
    image, mask = coded_pair(48, 48)
    opts = AugmentOptions(scale=(1.0, 1.0), flip=True, jitter=0.0)
    flipped = 0
    for seed in range(8):
        out, out_mask = augment(image, mask, 48, opts, np.random.default_rng(seed))
        np.testing.assert_array_equal(COLOURS[out_mask], out)  # exact copy at scale 1: every pixel matches
        flipped += bool((out_mask == mask[:, ::-1]).all() and not (mask == mask[:, ::-1]).all())
    assert 0 < flipped < 8


def test_augment_is_deterministic_per_generator() -> None:
    image, mask = coded_pair()
    opts = default_augment("folder")
    a = augment(image, mask, 40, opts, np.random.default_rng(7))
    b = augment(image, mask, 40, opts, np.random.default_rng(7))
    c = augment(image, mask, 40, opts, np.random.default_rng(8))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_default_augment_per_kind() -> None:
    lfw, voc, folder = default_augment("lfw"), default_augment("voc"), default_augment("folder")
    assert lfw.scale == (0.8, 1.25) and lfw.rotate == 10.0
    assert voc.scale == (0.5, 2.0) and voc.paste_prob == 0.0
    assert folder.paste_prob > 0
    assert isinstance(default_augment("person"), PersonAugmentOptions)
    assert normalization("person") == (HALF, HALF) and normalization("voc") == (MEAN, STD)


# ------------------------------------------------------------------------------------------- person preset

def person_pair(h: int, w: int, seed: int, ignore: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4:, w // 3: 2 * w // 3] = 1  # a standing "person", cut off at the bottom
    if ignore:
        mask[: h // 4, : w // 2] = 255  # a teacher's "not sure"
    return img, mask


PAIRS = [person_pair(60, 40, 0), person_pair(50, 70, 1, ignore=True), person_pair(33, 47, 2)]
BACKGROUNDS = [np.random.default_rng(9).integers(0, 256, (40, 64, 3), dtype=np.uint8)]
OPTS = PersonAugmentOptions(p_background=0.4, p_copy_paste=0.4, p_gray=0.3, p_blur=0.3, p_noise=0.3)


def view(index: int, seed: int, opts: PersonAugmentOptions = OPTS) -> tuple[np.ndarray, np.ndarray]:
    img, mask = PAIRS[index]
    return augment_person(img, mask, 32, opts, np.random.default_rng(seed), BACKGROUNDS, PAIRS)


def test_person_preset_shapes_and_values() -> None:
    for seed in range(12):  # covers paste-on-background, copy-paste and plain crops
        out_img, out_mask = view(0, seed)
        assert out_img.shape == (32, 32, 3) and out_img.dtype == np.uint8
        assert out_mask.shape == (32, 32)
        assert set(np.unique(out_mask)) <= {0, 1, 255}
        assert out_img.flags["C_CONTIGUOUS"] and out_mask.flags["C_CONTIGUOUS"]


def test_person_preset_is_deterministic_per_generator() -> None:
    a, b = view(1, 1234), view(1, 1234)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    outs = [view(1, s)[0] for s in range(5)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])  # different seeds, different samples


def test_person_preset_does_not_modify_its_inputs() -> None:
    copies = [(i.copy(), m.copy()) for i, m in PAIRS]
    for seed in range(6):
        view(seed % 3, seed)
    for (i0, m0), (i, m) in zip(copies, PAIRS):
        np.testing.assert_array_equal(i, i0)
        np.testing.assert_array_equal(m, m0)


def test_person_preset_keeps_the_person_in_plain_crops() -> None:
    # No pasting, no flips of meaning: a full-frame person mask stays all person.
    img = np.full((40, 40, 3), 128, np.uint8)
    mask = np.ones((40, 40), np.uint8)
    opts = PersonAugmentOptions(p_background=0, p_copy_paste=0)
    for seed in range(5):
        _, m = augment_person(img, mask, 24, opts, np.random.default_rng(seed), [], [(img, mask)])
        assert np.all(m == 1)


def test_teacher_ignore_survives_crops_and_is_never_person() -> None:
    img = np.zeros((40, 40, 3), np.uint8)
    mask = np.full((40, 40), 255, np.uint8)  # all "not sure": must not become background or person
    opts = PersonAugmentOptions(p_background=0, p_copy_paste=0)
    for seed in range(5):
        _, m = augment_person(img, mask, 24, opts, np.random.default_rng(seed))
        assert np.all(m == 255)
    seen = set()
    for seed in range(30):
        seen |= set(np.unique(view(1, seed)[1]).tolist())
    assert seen == {0, 1, 255}


def test_train_preset_per_kind_and_cache_size() -> None:
    person = train_preset("person", 192, 2, backgrounds=BACKGROUNDS)
    assert isinstance(person.options, PersonAugmentOptions) and person.paste_class == 1
    assert person.max_side == 325  # the smallest crop (35 % of the area) stretched to 192
    voc = train_preset("voc", 32, 21, backgrounds=BACKGROUNDS)
    assert voc.paste_class is None and voc.backgrounds is None and voc.max_side == 64
    img, mask = PAIRS[0]
    out, out_mask = person(img, mask, np.random.default_rng(0), PAIRS)
    assert out.shape == (192, 192, 3) and out_mask.shape == (192, 192)



def test_a_recipe_changes_the_preset_by_name_and_bad_changes_are_named() -> None:
    assert augment_options("person") == PersonAugmentOptions()
    opts = augment_options("person", {"paste_scale": [0.15, 1], "p_background": 0.4, "min_area": 1})
    assert opts.paste_scale == (0.15, 1.0) and opts.p_background == 0.4 and opts.min_area == 1.0
    assert augment_options("lfw", {"rotate": 5}).rotate == 5.0 and augment_options("lfw", {}).scale == (0.8, 1.25)
    for bad, words in [({"paste_size": [0.1, 1]}, "not an option of the person preset"),
                       ({"paste_scale": [1.0, 0.2]}, "2 increasing numbers"),
                       ({"paste_scale": 0.5}, "2 increasing numbers"),
                       ({"p_gray": "often"}, "must be float"),
                       ({"p_gray": True}, "must be float"),
                       ({"min_area": 0}, "min_area must be above 0 and at most 1"),
                       ({"min_area": 2}, "min_area must be above 0 and at most 1"),
                       ({"max_aspect": 0.5}, "max_aspect must be at least 1"),
                       ({"paste_scale": [-1, 1]}, "paste_scale must be above 0"),
                       ({"p_gray": 5}, "p_gray must be a probability in 0..1"),
                       ({"p_noise": float("nan")}, "p_noise must be a probability"),
                       ({"max_aspect": float("inf")}, "max_aspect must be at least 1 and finite, got inf"),
                       ({"paste_scale": [float("inf")] * 2}, "paste_scale must be above 0 and finite")]:
        with pytest.raises(ValueError, match=words):
            augment_options("person", bad)
    for kind, bad, words in [("lfw", {"scale": [0, 2]}, "scale must be above 0"),
                             ("lfw", {"jitter": -3}, "jitter must be at least 0"),
                             ("folder", {"paste_prob": 1.5}, "paste_prob must be a probability")]:
        with pytest.raises(ValueError, match=words):
            augment_options(kind, bad)
    assert augment_options("lfw", {"flip": False}).flip is False


def test_paste_scale_sets_how_tall_pasted_people_are() -> None:
    from segblur.training.data.transforms import paste_cutout

    rng = np.random.default_rng(0)
    person = np.zeros((100, 40), np.uint8)
    person[:, 10:30] = 1  # a person as tall as their photo
    canvas = np.zeros((200, 200, 3), np.uint8)
    heights = {}
    for scale in ((0.15, 0.2), (0.9, 1.0)):
        hs = []
        for _ in range(20):
            _, m = paste_cutout(np.full((100, 40, 3), 200, np.uint8), person, canvas, np.zeros((200, 200), np.uint8),
                                rng, scale=scale)
            rows = np.flatnonzero((m == 1).any(1))
            hs.append((rows[-1] - rows[0] + 1) / m.shape[0] if rows.size else 0.0)
        heights[scale] = np.median(hs)
    assert 0.1 < heights[(0.15, 0.2)] < 0.25 and heights[(0.9, 1.0)] > 0.7
