"""The torch dataset: training views from the kind's preset, reproducible per (seed, epoch, index), eval images at
the model size with the original masks, the decode cache, and the person kind's normalisation and copy-paste."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from coded import assert_aligned, coded_pair
from conftest import SHARED_DATA

from segblur.data import SegDataset, open_dataset
from segblur.training.data.presets import AugmentOptions
from segblur.training.data.segmentation import SegTorchDataset, eval_collate
from segblur.training.data.transforms import MEAN, STD


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

def test_person_kind_views_with_teacher_ignore(tmp_path: Path) -> None:
    sets = tmp_path / "data" / "people-hd"
    (sets / "images").mkdir(parents=True)
    (sets / "splits").mkdir()
    labels = tmp_path / "labels"
    labels.mkdir()
    ids = [f"h{i}" for i in range(4)]
    for i, sid in enumerate(ids):
        cv2.imwrite(str(sets / "images" / f"{sid}.jpg"), np.full((48, 40, 3), 40 * i, np.uint8))
        mask = np.zeros((48, 40), np.uint8)
        mask[10:, 12:28], mask[:5] = 1, 255
        cv2.imwrite(str(labels / f"{sid}.png"), mask)
    (sets / "splits" / "train.txt").write_text("\n".join(ids) + "\n")
    ds = open_dataset({"root": str(tmp_path / "data"), "train": [{"set": "people-hd", "split": "train",
                                                                  "masks": str(labels)}]})
    tds = SegTorchDataset(ds, "train", True, 32, seed=3)
    assert tds.mean == (127.5,) * 3 and tds.std == (127.5,) * 3 and tds.preset.max_side == 55
    seen = set()
    for i in range(len(tds)):
        x, y = tds[i]
        assert x.shape == (3, 32, 32) and y.shape == (32, 32) and float(x.abs().max()) <= 1.0 + 1e-6
        seen |= set(torch.unique(y).tolist())
    assert seen == {0, 1, 255}
    own = SegTorchDataset(ds, "train", True, 32, seed=3, mean=[0, 0, 0], std=[255, 255, 255])
    assert float(own[0][0].min()) >= 0.0
