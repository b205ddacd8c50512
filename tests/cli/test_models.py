"""``segblur models``: the built-in models and their cards."""

from __future__ import annotations

import pytest
from conftest import one_error_line, run_cli

from segblur.names import DEFAULT_MODEL


def test_models_lists_the_builtin_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "models", "--brief")
    assert code == 0
    assert any(line.startswith(f"{DEFAULT_MODEL}:") and "person" in line for line in out.splitlines())


def test_models_with_a_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "models", DEFAULT_MODEL, "--brief")
    assert code == 0 and out.startswith(f"{DEFAULT_MODEL}:")
    code, _, err = run_cli(capsys, "models", "nope")
    assert code == 2 and "nope" in one_error_line(err)
