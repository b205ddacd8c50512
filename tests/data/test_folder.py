"""Image/mask folders: binary 0/255 masks, class files, palette masks, and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from data_builders import (
    make_folder,
    photo,
    write_png,
    write_rgb,
)

from segblur.data import (
    DatasetError,
    Sample,
    open_dataset,
    voc_colormap,
)

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
    assert ds.splits() == ["all", "train", "train-all", "val"]
    assert [ds.default_split(r) for r in ("train", "val", "test")] == ["train", "val", "all"]


def test_folder_without_splits_holds_out_a_deterministic_validation_part(tmp_path: Path) -> None:
    # It trained and validated on the same images without a word.
    for i in range(25):
        write_rgb(tmp_path / "images" / f"im{i:02d}.png", photo(8, 8, i))
        (tmp_path / "masks").mkdir(exist_ok=True)
        cv2.imwrite(str(tmp_path / "masks" / f"im{i:02d}.png"), np.zeros((8, 8), np.uint8))
    ds = open_dataset(f"folder:{tmp_path}")
    train = [s.id for s in ds.samples(ds.default_split("train"))]
    val = [s.id for s in ds.samples(ds.default_split("val"))]
    assert val == ["im00", "im10", "im20"] and len(train) == 22 and not set(train) & set(val)
    assert len(ds.samples(ds.default_split("test"))) == 25  # evaluate scores every image
    assert ds.notes == [f"{tmp_path}: no split lists (splits/*.txt): validating on every 10th image (3 of 25) and "
                        "training on the rest"]
    assert [s.id for s in open_dataset(f"folder:{tmp_path}").samples("val")] == val  # the same every time


def _folder_of(tmp_path: Path, n: int, lists: dict[str, range]) -> None:
    (tmp_path / "masks").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_rgb(tmp_path / "images" / f"im{i:02d}.png", photo(8, 8, i))
        cv2.imwrite(str(tmp_path / "masks" / f"im{i:02d}.png"), np.zeros((8, 8), np.uint8))
    (tmp_path / "splits").mkdir()
    for name, ids in lists.items():
        (tmp_path / "splits" / f"{name}.txt").write_text("".join(f"im{i:02d}\n" for i in ids))


def test_folder_with_a_train_list_and_no_val_list_holds_out_of_the_train_list(tmp_path: Path) -> None:
    # Validation used the training images (train.txt only) or the test list (train.txt and test.txt), silently.
    _folder_of(tmp_path, 30, {"train": range(20), "test": range(20, 30)})
    ds = open_dataset(f"folder:{tmp_path}")
    train = [s.id for s in ds.samples(ds.default_split("train"))]
    val = [s.id for s in ds.samples(ds.default_split("val"))]
    assert val == ["im00", "im10"] and len(train) == 18 and not set(train) & set(val)
    assert [s.id for s in ds.samples(ds.default_split("test"))] == [f"im{i}" for i in range(20, 30)]
    assert ds.notes == [f"{tmp_path}: no splits/val.txt: validating on every 10th image of the training list "
                        "(2 of 20) and training on the rest"]


def test_validating_on_another_split_trains_on_the_whole_training_list(tmp_path: Path) -> None:
    # train --val-split test held a tenth of train.txt out for a validation it never ran.
    _folder_of(tmp_path, 30, {"train": range(20), "test": range(20, 30)})
    ds = open_dataset(f"folder:{tmp_path}")
    assert ds.training_split("val") == "train" and len(ds.samples("train")) == 18
    assert ds.training_split("test") == "train-all" and len(ds.samples("train-all")) == 20


def test_folder_without_a_train_list_trains_on_the_images_no_list_names(tmp_path: Path) -> None:
    # With only val.txt it trained on every image, the validation images included.
    _folder_of(tmp_path, 12, {"val": range(3)})
    ds = open_dataset(f"folder:{tmp_path}")
    train = [s.id for s in ds.samples(ds.default_split("train"))]
    assert train == [f"im{i:02d}" for i in range(3, 12)]
    assert [s.id for s in ds.samples(ds.default_split("val"))] == ["im00", "im01", "im02"]
    assert ds.notes == [f"{tmp_path}: no splits/train.txt: training on the 9 images that no split list names (val)"]


@pytest.mark.parametrize("lists", [{"validation": range(3)}, {"train": range(3, 12), "validation": range(3)}])
def test_folder_with_a_validation_list_validates_on_it(tmp_path: Path, lists: dict[str, range]) -> None:
    # validation.txt alone (LFW's spelling) raised KeyError: 'val' from every default split.
    _folder_of(tmp_path, 12, lists)
    ds = open_dataset(f"folder:{tmp_path}")
    assert [ds.default_split(r) for r in ("train", "val", "test")] == ["train", "validation", "validation"]
    assert [s.id for s in ds.samples("train")] == [f"im{i:02d}" for i in range(3, 12)]


def test_folder_whose_lists_name_every_image_but_no_train_list_says_so(tmp_path: Path) -> None:
    _folder_of(tmp_path, 12, {"trainval": range(9), "test": range(9, 12)})
    ds = open_dataset(f"folder:{tmp_path}")
    with pytest.raises(DatasetError, match=r"no splits/train.txt, and every image is in a list \(test, trainval\)"):
        ds.samples(ds.default_split("train"))
    assert [s.id for s in ds.samples("trainval")][:2] == ["im00", "im01"]  # --train-split trainval works


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
