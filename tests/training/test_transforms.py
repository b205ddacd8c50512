"""Training transforms and the torch dataset: alignment, padding, determinism, eval sizes, caching."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from conftest import SHARED_DATA

from segblur.data import SegDataset, open_dataset
from segblur.training.data.segmentation import MEAN, STD, SegTorchDataset, eval_collate
from segblur.training.data.transforms import (
    AugmentOptions,
    augment,
    color_jitter,
    default_augment,
    eval_resize,
    normalize,
    paste_on_background,
    resize_max_side,
    scale_rotate_crop,
)

# Class c is painted in colour COLOURS[c] (RGB), so alignment can be read back from the pixels.
COLOURS = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], np.uint8)


def coded_pair(h: int = 60, w: int = 80, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A mask of 3 classes in random 10x10 blocks and an image whose colour is the class colour."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 3, (h // 10 + 1, w // 10 + 1)).astype(np.uint8)
    mask = np.kron(blocks, np.ones((10, 10), np.uint8))[:h, :w]
    return COLOURS[mask], mask


def assert_aligned(image: np.ndarray, mask: np.ndarray) -> None:
    """Away from class edges, every labelled pixel's strongest channel names its class."""
    checked = 0
    for c in range(3):
        # Pixels outside the crop count as "other class", since a boundary may lie just outside it.
        inner = cv2.erode((mask == c).astype(np.uint8), np.ones((5, 5), np.uint8), borderType=cv2.BORDER_CONSTANT,
                          borderValue=0).astype(bool)
        if inner.any():
            dominant = 2 - np.argmax(image[inner].astype(int), axis=1)  # R -> 2, G -> 1, B -> 0
            assert (dominant == c).all(), f"class {c}: {np.mean(dominant != c):.3f} misaligned"
            checked += int(inner.sum())
    assert checked > 0


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


def test_resize_max_side() -> None:
    image, mask = coded_pair(60, 80)
    small, small_mask = resize_max_side(image, mask, 40)
    assert small.shape == (30, 40, 3) and small_mask.shape == (30, 40)
    assert set(np.unique(small_mask).tolist()) <= {0, 1, 2}
    same, same_mask = resize_max_side(image, mask, 80)
    assert same is image and same_mask is mask


# ------------------------------------------------------------------------------------------- torch dataset

def make_coded_folder(root: Path, n: int = 4, h: int = 37, w: int = 53) -> SegDataset:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        image, mask = coded_pair(h, w, seed=i)
        cv2.imwrite(str(root / "images" / f"{i}.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        cv2.imwrite(str(root / "masks" / f"{i}.png"), mask)
    (root / "classes.txt").write_text("background\nskin\nhair\n")
    return open_dataset(f"folder:{root}")


def test_train_items_shapes_and_alignment(tmp_path: Path) -> None:
    ds = make_coded_folder(tmp_path)
    tds = SegTorchDataset(ds, "all", True, 32, augment=AugmentOptions(jitter=0.0, rotate=10.0))
    assert len(tds) == 4
    for i in range(len(tds)):
        x, y = tds[i]
        assert x.shape == (3, 32, 32) and x.dtype == torch.float32
        assert y.shape == (32, 32) and y.dtype == torch.int64
        rgb = (x.numpy().transpose(1, 2, 0) * np.float32(STD) + np.float32(MEAN)).round().astype(np.uint8)
        assert_aligned(rgb, y.numpy().astype(np.uint8))


def test_train_items_reproducible_per_seed_epoch_index(tmp_path: Path) -> None:
    ds = make_coded_folder(tmp_path)
    a = SegTorchDataset(ds, "all", True, 32, seed=1)
    b = SegTorchDataset(ds, "all", True, 32, seed=1, cache=False)
    other_seed = SegTorchDataset(ds, "all", True, 32, seed=2)
    x0, y0 = a[2]
    assert torch.equal(x0, b[2][0]) and torch.equal(y0, b[2][1])
    assert not torch.equal(x0, other_seed[2][0])
    a.epoch = 1
    assert not torch.equal(x0, a[2][0])
    a.epoch = 0
    assert torch.equal(x0, a[2][0])


def test_epoch_reaches_persistent_workers(tmp_path: Path) -> None:
    ds = make_coded_folder(tmp_path, n=2)
    tds = SegTorchDataset(ds, "all", True, 32, seed=5)
    expected = []
    for epoch in (0, 1):
        tds.epoch = epoch
        expected.append(tds[0][0])
    assert not torch.equal(*expected)
    tds.epoch = 0
    loader = torch.utils.data.DataLoader(tds, batch_size=1, num_workers=1, persistent_workers=True)
    for epoch in (0, 1):
        tds.epoch = epoch
        x, _ = next(iter(loader))
        assert torch.equal(x[0], expected[epoch])


def test_eval_items_keep_original_mask(tmp_path: Path) -> None:
    ds = make_coded_folder(tmp_path)
    tds = SegTorchDataset(ds, "all", False, 32)
    x, y = tds[1]
    _, mask = ds.load(ds.samples("all")[1])
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert y.shape == (37, 53) and y.dtype == torch.int64
    np.testing.assert_array_equal(y.numpy(), mask)
    assert torch.equal(x, tds[1][0])  # deterministic
    images, masks = eval_collate([tds[0], tds[1], tds[2]])
    assert images.shape == (3, 3, 32, 32)
    assert [tuple(m.shape) for m in masks] == [(37, 53)] * 3


def test_cache_decodes_once_and_shrinks_for_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = make_coded_folder(tmp_path, n=2, h=120, w=90)
    calls = []
    load = ds.load
    monkeypatch.setattr(ds, "load", lambda s: calls.append(s.id) or load(s))
    tds = SegTorchDataset(ds, "all", True, 32, augment=AugmentOptions(scale=(0.5, 1.5)))
    tds.preload()
    tds.epoch = 3
    tds[0], tds[1], tds[0]
    assert calls == ["0", "1"]
    assert max(tds._cache[0][0].shape[:2]) == 48  # 1.5 x 32: all augmentation can use
    uncached = SegTorchDataset(ds, "all", True, 32, cache=False)
    uncached[0], uncached[0]
    assert calls == ["0", "1", "0", "0"]


def test_paste_only_for_binary_sets_with_backgrounds(tmp_path: Path) -> None:
    ds = make_coded_folder(tmp_path)
    bgs = [np.zeros((40, 40, 3), np.uint8)]
    assert SegTorchDataset(ds, "all", True, 32, backgrounds=bgs).paste_class is None  # 3 classes
    (tmp_path / "classes.txt").write_text("background\nperson\n")
    person = np.zeros((37, 53), np.uint8)
    person[10:27, 15:38] = 1
    for i in range(4):
        cv2.imwrite(str(tmp_path / "masks" / f"{i}.png"), person)
    binary = open_dataset(f"folder:{tmp_path}")
    tds = SegTorchDataset(binary, "all", True, 32, backgrounds=bgs,
                          augment=AugmentOptions(scale=(1.0, 1.0), jitter=0.0, paste_prob=1.0))
    assert tds.paste_class == 1
    x, y = tds[0]
    rgb = (x.numpy().transpose(1, 2, 0) * np.float32(STD) + np.float32(MEAN)).round()
    inner = cv2.erode((y.numpy() == 0).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert inner.sum() > 50 and (rgb[inner] < 2).all()  # background pixels come from the black photo
    fg = cv2.erode((y.numpy() == 1).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
    assert fg.any() and (rgb[fg].max(axis=1) > 200).all()  # the person keeps its own colours


@pytest.mark.integration
def test_lfw_parts_torch_dataset() -> None:
    root = SHARED_DATA / "lfw-parts"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    ds = open_dataset(f"lfw:{root}")
    train = SegTorchDataset(ds, ds.default_split("train"), True, 64, cache=False)
    x, y = train[0]
    assert x.shape == (3, 64, 64) and y.shape == (64, 64)
    assert set(torch.unique(y).tolist()) <= {0, 1, 2, 255}
    val = SegTorchDataset(ds, ds.default_split("val"), False, 64, cache=False)
    assert len(val) == 500 and val[0][1].shape == (250, 250)
