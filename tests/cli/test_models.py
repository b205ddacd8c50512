"""``segblur models``: the built-in models as a table, and their cards."""

from __future__ import annotations

import pytest
from conftest import one_error_line, run_cli

from segblur.names import DEFAULT_MODEL, builtin_models


def test_models_prints_a_short_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "models")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) <= len(builtin_models()) + 4  # it printed 229 lines of cards before
    row = next(line for line in lines if line.startswith(f"{DEFAULT_MODEL} "))
    assert "person*" in row and "192x192" in row and "MB" in row and "person_iou 0." in row
    assert "--full" in out and "# " not in out  # no card


def test_models_with_a_name_or_full_shows_cards(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "models", DEFAULT_MODEL)
    assert code == 0 and out.startswith(f"{DEFAULT_MODEL}:") and f"# {DEFAULT_MODEL}" in out
    code, full, _ = run_cli(capsys, "models", "--full")
    assert code == 0 and all(f"\n{name}: " in "\n" + full for name in builtin_models())
    assert len(full.splitlines()) > 50
    code, _, err = run_cli(capsys, "models", "nope")
    assert code == 2 and "nope" in one_error_line(err)


def test_a_kept_aspect_model_s_input_reads_as_such(tmp_path) -> None:
    from conftest import build_model

    from segblur.cli.models import _input
    from segblur.runtime.model import OnnxModel

    keep = OnnxModel(build_model(tmp_path / "keep.onnx", size=(192, 192), graph_size=("H", "W"),
                                 edit=lambda meta: meta["input"].update(resize="keep")))
    assert _input(keep.info) == "~192x192 aspect kept (720p: 256x144)"
    assert _input(OnnxModel(build_model(tmp_path / "fixed.onnx", size=(48, 64))).info) == "64x48"
