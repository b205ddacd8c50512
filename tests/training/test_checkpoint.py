"""Checkpoints are written atomically: a failed save keeps the previous one."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from segblur.training.checkpoint import load, save  # noqa: E402


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_save_writes_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "ck" / "last.pt"
    save({"epoch": 3, "w": torch.arange(4)}, path)
    save({"epoch": 4, "w": torch.arange(5)}, path)  # overwrite
    ck = load(path)
    assert ck["epoch"] == 4 and torch.equal(ck["w"], torch.arange(5))
    assert files_in(path.parent) == ["last.pt"]


def test_save_failure_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save({"epoch": 1}, path)
    with pytest.raises(Exception):  # noqa: B017  (pickling a lambda fails; which error is torch's business)
        save({"epoch": 2, "bad": lambda: None}, path)
    assert load(path)["epoch"] == 1
    assert files_in(tmp_path) == ["last.pt"]
