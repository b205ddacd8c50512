"""LFW Part Labels in both layouts, and the real lfw-parts folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA
from data_builders import (
    LFW_IDS,
    make_lfw_a,
    make_lfw_b,
    write_rgb,
)

from segblur.data import (
    LFW_CLASSES,
    DatasetError,
    open_dataset,
)

# ------------------------------------------------------------------------------------------- LFW

def test_lfw_layout_a(tmp_path: Path) -> None:
    masks = make_lfw_a(tmp_path)
    ds = open_dataset(f"lfw:{tmp_path}")
    assert ds.kind == "lfw" and ds.classes == LFW_CLASSES == ["background", "skin", "hair"]
    assert ds.foreground == ["skin", "hair"]
    assert ds.splits() == ["test", "train", "validation"]
    assert [ds.default_split(r) for r in ("train", "val", "test")] == ["train", "validation", "test"]
    for split, ids in LFW_IDS.items():
        samples = ds.samples(split)
        assert [s.id for s in samples] == ids
        for s in samples:
            image, mask = ds.load(s)
            assert image.shape == (24, 24, 3)
            np.testing.assert_array_equal(mask, masks[s.id])


def test_lfw_original_ppm_layout(tmp_path: Path) -> None:
    masks = make_lfw_b(tmp_path)
    ds = open_dataset(f"lfw:{tmp_path}")
    assert ds.splits() == ["test", "train", "validation"]
    train = ds.samples("train")
    assert [s.id for s in train] == LFW_IDS["train"]  # "Aaron_Peirsol 2" and "AJ_Cook_0001" lines
    assert train[0].image == tmp_path / "lfw_funneled" / "Aaron_Peirsol" / "Aaron_Peirsol_0002.jpg"
    assert train[0].mask == tmp_path / "parts_lfw_funneled_gt_images" / "Aaron_Peirsol_0002.ppm"
    for split in ds.splits():
        for s in ds.samples(split):
            np.testing.assert_array_equal(ds.load(s)[1], masks[s.id])


def test_lfw_ppm_class_is_strongest_channel(tmp_path: Path) -> None:
    make_lfw_b(tmp_path)
    ds = open_dataset(f"lfw:{tmp_path}")
    s = ds.samples("validation")[0]
    rgb = np.zeros((24, 24, 3), np.uint8)  # black: a tie -> background
    rgb[0, :3] = [(200, 10, 30), (20, 180, 170), (10, 20, 90)]
    write_rgb(s.mask, rgb)
    mask = ds.load(s)[1]
    assert mask[0, :4].tolist() == [2, 1, 0, 0]
    assert (mask[1:] == 0).all()


def test_lfw_original_without_lists_has_all_split(tmp_path: Path) -> None:
    make_lfw_b(tmp_path)
    for p in tmp_path.glob("parts_*.txt"):
        p.unlink()
    ds = open_dataset(f"lfw:{tmp_path}")
    assert ds.splits() == ["all"] and ds.default_split("train") == "all"
    assert len(ds.samples("all")) == 4


def test_lfw_layout_a_without_split_lists(tmp_path: Path) -> None:
    make_lfw_a(tmp_path)
    for p in (tmp_path / "splits").iterdir():
        p.unlink()
    ds = open_dataset(f"lfw:{tmp_path}")
    assert ds.splits() == ["all"] and ds.default_split("val") == "all"
    assert [s.id for s in ds.samples("all")] == sorted(i for ids in LFW_IDS.values() for i in ids)


def test_lfw_bad_split_line(tmp_path: Path) -> None:
    make_lfw_b(tmp_path)
    (tmp_path / "parts_test.txt").write_text("Aaron Peirsol 1\n")
    ds = open_dataset(f"lfw:{tmp_path}")
    with pytest.raises(DatasetError, match=r"parts_test\.txt: bad line 'Aaron Peirsol 1'"):
        ds.samples("test")


def test_lfw_unrecognised_layout(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    with pytest.raises(DatasetError, match=f"{tmp_path}: not an LFW Part Labels folder"):
        open_dataset(f"lfw:{tmp_path}")

# ------------------------------------------------------------------------------------------- real data

@pytest.mark.integration
def test_lfw_parts_real_data() -> None:
    root = SHARED_DATA / "lfw-parts"
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    ds = open_dataset(f"lfw:{root}")
    assert ds.classes == ["background", "skin", "hair"]
    sizes = {split: len(ds.samples(split)) for split in ("train", "validation", "test")}
    assert sizes == {"train": 1500, "validation": 500, "test": 927}
    image, mask = ds.load(ds.samples("test")[0])
    assert image.shape == (250, 250, 3) and mask.shape == (250, 250)
    assert set(np.unique(mask).tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(mask, cv2.imread(str(ds.samples("test")[0].mask), cv2.IMREAD_GRAYSCALE))
