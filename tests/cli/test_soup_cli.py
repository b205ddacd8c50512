"""``segblur soup`` at the command line: what is refused before any checkpoint is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import one_error_line, run_cli

pytest.importorskip("torch")


@pytest.mark.parametrize("second", ["a.pt", "./a.pt", "link.pt"])
def test_the_same_checkpoint_twice_is_refused_by_name(tmp_path: Path, second: str,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("a.pt").write_bytes(b"weights")
    Path("b.pt").write_bytes(b"weights")
    Path("link.pt").symlink_to(tmp_path / "a.pt")
    Path("recipe.yaml").write_text("arch: unet\n")
    code, out, err = run_cli(capsys, "soup", "a.pt", "b.pt", second, "--config", "recipe.yaml", "--out", "soup")
    line = one_error_line(err)
    named = Path(second)  # as argparse gives it: ./a.pt is a.pt
    assert code == 2 and line.startswith(f"segblur: error: {named}: checkpoint given twice"), line
    assert ("(also as a.pt)" in line) == (named != Path("a.pt")), line
    assert out == "" and not Path("soup").exists()


def test_an_out_inside_the_recipes_data_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """soup --out inside the folder the recipe reads was written into it; train and tune refuse it already."""
    monkeypatch.chdir(tmp_path)
    Path("data").mkdir()
    Path("a.pt").write_bytes(b"weights")
    Path("b.pt").write_bytes(b"other")
    Path("recipe.yaml").write_text(f"arch: unet\ndata: folder:{tmp_path / 'data'}\n")
    code, out, err = run_cli(capsys, "soup", "a.pt", "b.pt", "--config", "recipe.yaml", "--out", "data/soup")
    line = one_error_line(err)
    assert code == 2 and line.startswith("segblur: error: data/soup: is inside the input folder"), line
    assert out == "" and sorted(p.name for p in Path("data").iterdir()) == []
