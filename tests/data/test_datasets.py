"""The dataset layer: VOC (palette PNGs), LFW Part Labels (both layouts), image folders, and their errors."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA

from segblur.data import (
    DATASET_KINDS,
    LFW_CLASSES,
    VOC_CLASSES,
    DatasetError,
    Sample,
    open_dataset,
    read_png_indices,
    voc_colormap,
)

SHARED = SHARED_DATA


# ------------------------------------------------------------------------------------------- PNG writer

def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _filter_row(row: list[int], prev: list[int], f: int) -> list[int]:
    out = []
    for i, x in enumerate(row):
        left = row[i - 1] if i else 0
        up = prev[i]
        upleft = prev[i - 1] if i else 0
        pred = [0, left, up, (left + up) // 2, _paeth(left, up, upleft)][f]
        out.append((x - pred) & 0xFF)
    return out


def write_png(path: Path, values: np.ndarray, palette: np.ndarray | None = None, filters: tuple[int, ...] = (0,),
              depth: int = 8) -> None:
    """An 8-bit palette (or grayscale when palette is None) PNG, rows filtered with the given types in turn."""
    h, w = values.shape
    color = 3 if palette is not None else 0
    raw, prev = bytearray(), [0] * w
    for y in range(h):
        row = [int(v) for v in values[y]]
        f = filters[y % len(filters)]
        raw += bytes([f] + _filter_row(row, prev, f))
        prev = row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
    if palette is not None:
        png += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    png += chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(png)


def write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# ------------------------------------------------------------------------------------------- builders

VOC_IDS = ["2007_000032", "2007_000033", "2008_000001"]


def voc_mask(seed: int, h: int = 30, w: int = 40) -> np.ndarray:
    """Classes in blocks with a 255 boundary around each block, as VOC draws object outlines."""
    rng = np.random.default_rng(seed)
    m = np.zeros((h, w), np.uint8)
    for _ in range(3):
        c = int(rng.choice([1, 7, 15, 20]))
        y, x = int(rng.integers(0, h - 10)), int(rng.integers(0, w - 10))
        m[y:y + 10, x:x + 10] = 255
        m[y + 1:y + 9, x + 1:x + 9] = c
    return m


def make_voc(root: Path) -> dict[str, np.ndarray]:
    """VOCdevkit/VOC2012 with three samples, splits train (2) / val (1) / trainval; returns id -> mask."""
    voc = root / "VOCdevkit" / "VOC2012"
    masks = {}
    for i, sid in enumerate(VOC_IDS):
        write_rgb(voc / "JPEGImages" / f"{sid}.jpg", photo(30, 40, i))
        masks[sid] = voc_mask(i)
        write_png(voc / "SegmentationClass" / f"{sid}.png", masks[sid], voc_colormap(256), filters=(0, 1, 2, 3, 4))
    sets = voc / "ImageSets" / "Segmentation"
    sets.mkdir(parents=True)
    (sets / "train.txt").write_text("\n".join(VOC_IDS[:2]) + "\n")
    (sets / "val.txt").write_text(VOC_IDS[2] + "\n")
    (sets / "trainval.txt").write_text("\n".join(VOC_IDS) + "\n")
    return masks


LFW_IDS = {"train": ["Aaron_Peirsol_0002", "AJ_Cook_0001"], "validation": ["Aaron_Peirsol_0001"],
           "test": ["Abdoulaye_Wade_0004"]}


def lfw_mask(seed: int, size: int = 24) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[6:20, 6:18] = 1
    m[2:8, 4:20] = 2
    m[seed % 5, :] = 2
    return m


def make_lfw_a(root: Path) -> dict[str, np.ndarray]:
    masks = {}
    for split, ids in LFW_IDS.items():
        for i, sid in enumerate(ids):
            write_rgb(root / "images" / f"{sid}.jpg", photo(24, 24, i))
            masks[sid] = lfw_mask(len(masks))
            (root / "masks").mkdir(exist_ok=True)
            assert cv2.imwrite(str(root / "masks" / f"{sid}.png"), masks[sid])
        (root / "splits").mkdir(exist_ok=True)
        (root / "splits" / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return masks


LFW_COLOURS = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0]], np.uint8)  # RGB: background blue, skin, hair red


def make_lfw_b(root: Path) -> dict[str, np.ndarray]:
    """The original distribution: .ppm colour masks, lfw_funneled/<Name>/, parts_*.txt in both line styles."""
    masks = {}
    for split, ids in LFW_IDS.items():
        lines = []
        for i, sid in enumerate(ids):
            name, number = sid.rsplit("_", 1)
            write_rgb(root / "lfw_funneled" / name / f"{sid}.jpg", photo(24, 24, i))
            masks[sid] = lfw_mask(len(masks))
            write_rgb(root / "parts_lfw_funneled_gt_images" / f"{sid}.ppm", LFW_COLOURS[masks[sid]])
            lines.append(f"{name} {int(number)}" if i % 2 == 0 else sid)
        (root / f"parts_{split}.txt").write_text("\n".join(lines) + "\n")
    return masks


def make_folder(root: Path, classes: list[str] | None = None, splits: bool = True) -> dict[str, np.ndarray]:
    """images/{a.png,b.jpg,c.bmp} with 0/255 masks, splits train (a, b) / val (c), optional classes.txt."""
    masks = {}
    for i, (stem, ext) in enumerate([("a", ".png"), ("b", ".jpg"), ("c", ".bmp")]):
        write_rgb(root / "images" / f"{stem}{ext}", photo(20, 28, i))
        m = np.zeros((20, 28), np.uint8)
        m[3:15, 5 + i:20] = 255
        masks[stem] = m
        (root / "masks").mkdir(exist_ok=True)
        cv2.imwrite(str(root / "masks" / f"{stem}.png"), m)
    if splits:
        (root / "splits").mkdir()
        (root / "splits" / "train.txt").write_text("a\nb.jpg\n\n")
        (root / "splits" / "val.txt").write_text("# validation\nc\n")
    if classes is not None:
        (root / "classes.txt").write_text("\n".join(classes) + "\n")
    return masks


# ------------------------------------------------------------------------------------------- PNG decoding

@pytest.mark.parametrize("f", [0, 1, 2, 3, 4])
def test_png_indices_every_filter_type(tmp_path: Path, f: int) -> None:
    rng = np.random.default_rng(f)
    values = rng.integers(0, 256, (9, 13), dtype=np.uint8)
    values[:, :4] = 255  # runs that make the predictors wrap around
    few = rng.integers(0, 5, (12, 15), dtype=np.uint8)  # few distinct values: many Paeth predictor ties
    for i, v in enumerate((values, few)):
        path = tmp_path / f"m{i}.png"
        write_png(path, v, voc_colormap(256), filters=(f,))
        np.testing.assert_array_equal(read_png_indices(path), v)


def test_png_indices_match_opencv_on_grayscale(tmp_path: Path) -> None:
    values = np.random.default_rng(1).integers(0, 4, (31, 47), dtype=np.uint8) * 60
    values[10:20] = np.arange(47, dtype=np.uint8)[None]
    for level in (0, 1, 9):
        path = tmp_path / f"g{level}.png"
        cv2.imwrite(str(path), values, [cv2.IMWRITE_PNG_COMPRESSION, level])
        np.testing.assert_array_equal(read_png_indices(path), values)


def test_png_indices_returns_none_for_rgb(tmp_path: Path) -> None:
    write_rgb(tmp_path / "c.png", photo(4, 4))
    assert read_png_indices(tmp_path / "c.png") is None


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


# ------------------------------------------------------------------------------------------- folder

def test_folder_binary_masks_splits_classes(tmp_path: Path) -> None:
    masks = make_folder(tmp_path, classes=["background", "person"])
    ds = open_dataset(f"folder:{tmp_path}")
    assert ds.kind == "folder" and ds.classes == ["background", "person"] and ds.foreground == ["person"]
    assert ds.splits() == ["all", "train", "val"]
    assert [ds.default_split(r) for r in ("train", "val", "test")] == ["train", "val", "val"]
    assert [s.id for s in ds.samples("train")] == ["a", "b"]
    assert ds.samples("train")[1].image == tmp_path / "images" / "b.jpg"
    assert [s.id for s in ds.samples("all")] == ["a", "b", "c"]
    for s in ds.samples("all"):
        image, mask = ds.load(s)
        assert image.shape == (20, 28, 3)
        np.testing.assert_array_equal(mask, masks[s.id] // 255)  # 0/255 read as 0/1


def test_folder_defaults_without_splits_or_classes(tmp_path: Path) -> None:
    make_folder(tmp_path, splits=False)
    ds = open_dataset(f"folder:{tmp_path}")
    assert ds.classes == ["background", "foreground"] and ds.foreground == ["foreground"]
    assert ds.splits() == ["all"]
    assert {ds.default_split(r) for r in ("train", "val", "test")} == {"all"}


def test_folder_255_is_ignore_with_more_classes(tmp_path: Path) -> None:
    masks = make_folder(tmp_path, classes=["background", "person", "pet"])
    ds = open_dataset(f"folder:{tmp_path}")
    assert ds.foreground == ["person", "pet"]
    np.testing.assert_array_equal(ds.load(ds.samples("val")[0])[1], masks["c"])  # 255 stays ignore


def test_folder_class_ids_kept(tmp_path: Path) -> None:
    make_folder(tmp_path, classes=["background", "person", "pet"])
    m = np.zeros((20, 28), np.uint8)
    m[:5], m[5:8], m[8:9] = 1, 2, 255
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), m)
    ds = open_dataset(f"folder:{tmp_path}")
    np.testing.assert_array_equal(ds.load(ds.samples("train")[0])[1], m)


def test_folder_palette_mask_reads_indices(tmp_path: Path) -> None:
    make_folder(tmp_path, classes=["background", "person", "pet"])
    m = np.zeros((20, 28), np.uint8)
    m[2:9, 3:7] = 2
    write_png(tmp_path / "masks" / "c.png", m, voc_colormap(256))
    ds = open_dataset(f"folder:{tmp_path}")
    np.testing.assert_array_equal(ds.load(ds.samples("val")[0])[1], m)


def test_folder_without_masks_folder_is_refused(tmp_path: Path) -> None:
    make_folder(tmp_path, splits=False)
    for p in (tmp_path / "masks").iterdir():
        p.unlink()
    (tmp_path / "masks").rmdir()
    with pytest.raises(DatasetError) as err:
        open_dataset(f"folder:{tmp_path}")
    assert str(err.value).startswith(f"{tmp_path / 'masks'}: no masks folder")
    assert "\n" not in str(err.value)


def test_folder_split_with_every_mask_missing(tmp_path: Path) -> None:
    make_folder(tmp_path)
    for p in (tmp_path / "masks").iterdir():
        p.unlink()
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match=r"masks/a\.png: no mask for image .*images/a\.png \(and 1 more\)$"):
        ds.samples("train")
    with pytest.raises(DatasetError, match=r"masks/a\.png: no mask for image .*images/a\.png \(and 2 more\)$"):
        ds.samples("all")


def test_sample_without_mask_is_refused(tmp_path: Path) -> None:
    make_folder(tmp_path)
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match=r"images/a\.png: no mask for this image"):
        ds.load(Sample("a", tmp_path / "images" / "a.png", None))


def test_folder_image_without_mask(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "masks" / "b.png").unlink()
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match=r"masks/b\.png: no mask for image .*images/b\.jpg$"):
        ds.samples("all")
    assert len(ds.samples("val")) == 1  # other splits still usable


def test_folder_split_id_without_image(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "splits" / "val.txt").write_text("c\nzz\n")
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match=r"images/zz\.\*: no image for id 'zz' listed in .*splits/val\.txt"):
        ds.samples("val")


def test_folder_colour_mask(tmp_path: Path) -> None:
    make_folder(tmp_path)
    write_rgb(tmp_path / "masks" / "a.png", photo(20, 28))
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match=r"masks/a\.png: colour mask \(3 channels\)"):
        ds.load(ds.samples("train")[0])


def test_folder_gray_mask_stored_as_rgb_accepted(tmp_path: Path) -> None:
    masks = make_folder(tmp_path)
    write_rgb(tmp_path / "masks" / "a.png", np.repeat(masks["a"][..., None], 3, axis=2))
    ds = open_dataset(f"folder:{tmp_path}")
    np.testing.assert_array_equal(ds.load(ds.samples("train")[0])[1], masks["a"] // 255)


def test_folder_mask_size_differs(tmp_path: Path) -> None:
    make_folder(tmp_path)
    cv2.imwrite(str(tmp_path / "masks" / "c.png"), np.zeros((21, 28), np.uint8))
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match=r"masks/c\.png: mask size 28x21 differs from image c\.bmp 28x20"):
        ds.load(ds.samples("val")[0])


def test_folder_mask_values_outside_classes(tmp_path: Path) -> None:
    make_folder(tmp_path)
    m = np.zeros((20, 28), np.uint8)
    m[0, 0] = 128
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), m)
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match=r"masks/a\.png: mask values 128 outside the 2 classes \(0\.\.1, 255"):
        ds.load(ds.samples("train")[0])


def test_folder_unreadable_image_and_mask(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "images" / "b.jpg").write_bytes(b"not a jpeg at all")
    (tmp_path / "masks" / "c.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 3)
    (tmp_path / "masks" / "a.png").write_bytes(b"")
    ds = open_dataset(f"folder:{tmp_path}")
    a, b = ds.samples("train")
    with pytest.raises(DatasetError, match=r"images/b\.jpg: "):
        ds.load(b)
    with pytest.raises(DatasetError, match=r"masks/c\.png: corrupt PNG file"):
        ds.load(ds.samples("val")[0])
    with pytest.raises(DatasetError, match=r"masks/a\.png: cannot decode mask \(empty file\)"):
        ds.load(a)


def test_folder_bad_classes_file(tmp_path: Path) -> None:
    make_folder(tmp_path, classes=["only"])
    with pytest.raises(DatasetError, match=r"classes\.txt: needs at least 2 class names"):
        open_dataset(f"folder:{tmp_path}")


# ------------------------------------------------------------------------------------------- splits and specs

def test_unknown_and_empty_split(tmp_path: Path) -> None:
    make_folder(tmp_path)
    (tmp_path / "splits" / "test.txt").write_text("\n# nothing\n")
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match=f"{tmp_path}: unknown split 'nope' \\(available: all, test, train, val\\)"):
        ds.samples("nope")
    with pytest.raises(DatasetError, match=r"splits/test\.txt: split 'test' is empty"):
        ds.samples("test")


def test_empty_image_folder(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DatasetError, match=r"images: split 'all' is empty"):
        open_dataset(f"folder:{tmp_path}").samples("all")


def test_default_split_role_checked(tmp_path: Path) -> None:
    make_folder(tmp_path)
    with pytest.raises(ValueError, match="unknown split role"):
        open_dataset(f"folder:{tmp_path}").default_split("holdout")


@pytest.mark.parametrize(("spec", "message"), [
    ("nope:/x", "bad dataset spec"),
    ("/some/where", "bad dataset spec"),
    ("voc:", "no path after 'voc:'"),
    ("lfw:{tmp}/missing", "{tmp}/missing: no such folder"),
    ("folder:{tmp}/file.txt", "{tmp}/file.txt: not a folder"),
    ("folder:{tmp}", "{tmp}: not an image folder dataset"),
])
def test_bad_specs(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError) as err:
        open_dataset(spec.format(tmp=tmp_path))
    assert message.format(tmp=tmp_path) in str(err.value)
    assert "\n" not in str(err.value)


def test_kinds() -> None:
    assert DATASET_KINDS == ("voc", "lfw", "folder")


def test_core_is_torch_free() -> None:
    import subprocess
    import sys

    code = "import sys, segblur.data; sys.exit('torch' in sys.modules or 'segblur.training' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


# ------------------------------------------------------------------------------------------- real data

@pytest.mark.integration
def test_lfw_parts_real_data() -> None:
    root = SHARED / "lfw-parts"
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
