"""What every kind shares: unknown and empty splits, split roles."""

from __future__ import annotations

from pathlib import Path

import pytest
from data_builders import (
    make_folder,
)

from segblur.data import (
    DatasetError,
    open_dataset,
)

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
