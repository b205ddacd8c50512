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


@pytest.mark.parametrize("argv", [["models"], ["models", "--full"]])
def test_a_reader_gone_away_ends_quietly(argv: list[str]) -> None:
    """``segblur models --full | head -1``: the reader closes the pipe; no traceback, 141 as cat or grep give."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # a reader that went away before the first byte: every write is refused (EPIPE), deterministically
    try:
        r = subprocess.run([sys.executable, "-m", "segblur", *argv], stdout=write, stderr=subprocess.PIPE, text=True,
                           timeout=120)
    finally:
        os.close(write)
    assert "Traceback" not in r.stderr and "Exception ignored" not in r.stderr and r.stderr == ""
    assert r.returncode == 141


def test_head_closing_the_pipe_ends_quietly() -> None:
    """The real pipeline of the report: whether head closes before or after segblur's last write, no traceback."""
    import shutil
    import subprocess
    import sys

    if shutil.which("bash") is None or shutil.which("head") is None:
        pytest.skip("needs bash and head")
    r = subprocess.run(["bash", "-c", f"set -o pipefail; '{sys.executable}' -m segblur models --full | head -1"],
                       capture_output=True, text=True, timeout=120)
    assert "Traceback" not in r.stderr and r.stderr == "", r.stderr
    assert r.returncode in (0, 141) and r.stdout.count("\n") == 1
