"""Mask files: palette PNGs as their indices (Pillow), grayscale PNGs exactly, RGB PNGs refused."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from data_builders import (
    photo,
    write_png,
    write_rgb,
)

from segblur.data import (
    DatasetError,
    read_png_indices,
    voc_colormap,
)

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


def test_palette_masks_without_pillow_say_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.png"
    write_png(path, np.zeros((4, 5), np.uint8), voc_colormap(256))
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    with pytest.raises(DatasetError, match=r"m\.png: reading palette PNG masks needs Pillow \(pip install pillow"):
        read_png_indices(path)
    gray = tmp_path / "g.png"
    cv2.imwrite(str(gray), np.full((4, 5), 7, np.uint8))
    assert (read_png_indices(gray) == 7).all()  # grayscale masks never need it


def test_truncated_palette_png_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "t.png"
    write_png(path, np.random.default_rng(0).integers(0, 21, (40, 50), dtype=np.uint8), voc_colormap(256))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DatasetError, match=r"t\.png: corrupt PNG file") as err:
        read_png_indices(path)
    assert "\n" not in str(err.value)
