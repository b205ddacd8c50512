"""``load_backgrounds``: the people-free photos of ``segblur train --backgrounds DIR``."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA

from segblur.data import load_backgrounds


def write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1].copy())


def photo(h: int, w: int, value: int) -> np.ndarray:
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0], img[..., 1], img[..., 2] = value, 255 - value, 7  # distinct channels: RGB order is checked
    return img


def test_plain_folder_with_every_image_suffix(tmp_path: Path) -> None:
    for i, suffix in enumerate((".jpg", ".JPEG", ".png", ".bmp", ".webp")):
        write(tmp_path / f"bg{i}{suffix}", photo(12, 16, 40 * i))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / ".hidden.png").write_bytes(b"junk")
    out = load_backgrounds(tmp_path)
    assert len(out) == 5 and all(img.shape == (12, 16, 3) and img.dtype == np.uint8 for img in out)
    png = out[2]  # sorted by name: bg0.jpg bg1.JPEG bg2.png bg3.bmp bg4.webp; PNG is lossless
    np.testing.assert_array_equal(png, photo(12, 16, 80))


def test_images_subfolder_preferred_and_large_photos_shrunk(tmp_path: Path) -> None:
    write(tmp_path / "images" / "a.png", photo(100, 60, 10))
    write(tmp_path / "cover.png", photo(8, 8, 10))  # beside images/: not a background
    out = load_backgrounds(tmp_path, max_side=50)
    assert [img.shape for img in out] == [(50, 30, 3)]


def test_no_images_is_one_error_naming_the_folder(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(ValueError, match=f"^{tmp_path}: no background images found"):
        load_backgrounds(tmp_path)
    with pytest.raises(ValueError, match=f"^{tmp_path / 'missing'}: no such folder"):
        load_backgrounds(tmp_path / "missing")


def test_corrupt_image_is_one_error_naming_it(tmp_path: Path) -> None:
    write(tmp_path / "a.png", photo(8, 8, 1))
    (tmp_path / "b.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(ValueError) as err:
        load_backgrounds(tmp_path)
    assert str(err.value).startswith(f"{tmp_path / 'b.jpg'}: ") and "\n" not in str(err.value)


@pytest.mark.integration
def test_shared_backgrounds_folder() -> None:
    root = SHARED_DATA / "backgrounds"
    if not (root / "images").is_dir():
        pytest.skip(f"{root} not present")
    out = load_backgrounds(root)
    assert len(out) == len([p for p in (root / "images").iterdir() if p.suffix.lower() == ".jpg"])
    assert all(max(img.shape[:2]) <= 512 and img.shape[2] == 3 for img in out)
