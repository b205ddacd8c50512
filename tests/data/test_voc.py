"""Pascal VOC 2012: palette masks read as indices, the palette, missing files, bad masks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_builders import (
    VOC_IDS,
    make_voc,
    voc_mask,
    write_png,
    write_rgb,
)

from segblur.data import (
    VOC_CLASSES,
    DatasetError,
    Sample,
    open_dataset,
    voc_colormap,
)


def test_voc_colormap_known_colours() -> None:
    cmap = voc_colormap(256)
    assert cmap[0].tolist() == [0, 0, 0]
    assert cmap[1].tolist() == [128, 0, 0]
    assert cmap[15].tolist() == [192, 128, 128]  # person
    assert cmap[255].tolist() == [224, 224, 192]  # the boundary

# ------------------------------------------------------------------------------------------- VOC

@pytest.mark.parametrize("where", ["", "VOCdevkit", "VOCdevkit/VOC2012"])
def test_voc_reads_palette_indices_exactly(tmp_path: Path, where: str) -> None:
    masks = make_voc(tmp_path)
    ds = open_dataset(f"voc:{tmp_path / where}")
    assert ds.kind == "voc"
    assert ds.root == tmp_path / "VOCdevkit" / "VOC2012"
    assert ds.classes == VOC_CLASSES and len(ds.classes) == 21 and ds.classes[15] == "person"
    assert ds.foreground == ["person"] and ds.ignore_index == 255
    assert ds.splits() == ["train", "trainval", "val"]
    assert [ds.default_split(r) for r in ("train", "val", "test")] == ["train", "val", "val"]
    train = ds.samples("train")
    assert [s.id for s in train] == VOC_IDS[:2]
    assert train[0] == Sample("2007_000032", ds.root / "JPEGImages" / "2007_000032.jpg",
                              ds.root / "SegmentationClass" / "2007_000032.png")
    for s in ds.samples("trainval"):
        image, mask = ds.load(s)
        assert image.shape == (30, 40, 3) and image.dtype == np.uint8
        assert mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, masks[s.id])
        assert 255 in mask


def test_voc_rgb_mask_mapped_through_palette(tmp_path: Path) -> None:
    masks = make_voc(tmp_path)
    ds = open_dataset(f"voc:{tmp_path}")
    sid = VOC_IDS[0]
    write_rgb(ds.root / "SegmentationClass" / f"{sid}.png", voc_colormap(256)[masks[sid]])
    np.testing.assert_array_equal(ds.load(ds.samples("train")[0])[1], masks[sid])
    rgb = voc_colormap(256)[masks[sid]]
    rgb[0, 0] = (1, 2, 3)
    write_rgb(ds.root / "SegmentationClass" / f"{sid}.png", rgb)
    with pytest.raises(DatasetError, match=r"2007_000032\.png: colour \(1, 2, 3\) is not in the VOC palette"):
        ds.load(ds.samples("train")[0])


def test_voc_id_without_image_or_mask(tmp_path: Path) -> None:
    make_voc(tmp_path)
    ds = open_dataset(f"voc:{tmp_path}")
    (ds.root / "JPEGImages" / f"{VOC_IDS[2]}.jpg").unlink()
    with pytest.raises(DatasetError, match=r"JPEGImages/2008_000001\.jpg: no image for id '2008_000001' listed in "
                                           r".*val\.txt$"):
        ds.samples("val")
    (ds.root / "SegmentationClass" / f"{VOC_IDS[0]}.png").unlink()
    with pytest.raises(DatasetError, match=r"SegmentationClass/2007_000032\.png: no mask for image .*2007_000032\.jpg"
                                           r" \(and 1 more\)$"):
        ds.samples("trainval")


def test_voc_unsupported_bit_depth(tmp_path: Path) -> None:
    make_voc(tmp_path)
    ds = open_dataset(f"voc:{tmp_path}")
    path = ds.root / "SegmentationClass" / f"{VOC_IDS[2]}.png"
    write_png(path, np.zeros((30, 40), np.uint8), voc_colormap(16), depth=4)
    with pytest.raises(DatasetError, match=r"2008_000001\.png: unsupported palette PNG \(bit depth 4"):
        ds.load(ds.samples("val")[0])


def test_voc_mask_values_outside_classes(tmp_path: Path) -> None:
    make_voc(tmp_path)
    ds = open_dataset(f"voc:{tmp_path}")
    bad = voc_mask(2)
    bad[0, 0], bad[1, 1] = 21, 200
    write_png(ds.root / "SegmentationClass" / f"{VOC_IDS[2]}.png", bad, voc_colormap(256))
    with pytest.raises(DatasetError, match=r"2008_000001\.png: mask values 21, 200 outside the 21 classes"):
        ds.load(ds.samples("val")[0])


def test_voc_not_a_voc_folder(tmp_path: Path) -> None:
    (tmp_path / "JPEGImages").mkdir()
    with pytest.raises(DatasetError, match="not a Pascal VOC 2012 folder"):
        open_dataset(f"voc:{tmp_path}")
