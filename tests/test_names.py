"""Every name list lives once in segblur.names; each is pinned here against the registry it names."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from segblur import io, names
from segblur.cli.main import build_parser


def _choices(parser: argparse.ArgumentParser, command: str, option: str) -> list[str] | None:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.choices[command]
    return next(a.choices for a in p._actions if option in a.option_strings)


def test_effects_match_the_runtime_registry() -> None:
    from segblur import list_effects
    from segblur.runtime.effects import EFFECTS

    assert tuple(EFFECTS) == names.EFFECTS
    assert tuple(list_effects()) == names.EFFECTS
    assert names.DEFAULT_EFFECT in names.EFFECTS


@pytest.mark.parametrize("command", ["image", "video", "camera"])
def test_every_effect_is_an_effect_choice(command: str) -> None:
    assert tuple(_choices(build_parser(), command, "--effect")) == names.EFFECTS


def test_benchmark_effect_choices() -> None:
    assert tuple(_choices(build_parser(), "benchmark", "--effect")) == names.EFFECTS


def test_effect_cycle_is_every_effect_without_a_picture() -> None:
    from segblur.media.camera import Controls

    assert tuple(e for e in names.EFFECTS if e != "image") == names.EFFECT_CYCLE
    assert Controls().effects == names.EFFECT_CYCLE


def test_default_model_is_shipped() -> None:
    from segblur.runtime.model import resolve_model_path

    assert names.DEFAULT_MODEL in names.builtin_models()
    assert resolve_model_path("default") == names.builtin_dir() / f"{names.DEFAULT_MODEL}.onnx"


def test_architectures_match_the_training_registry() -> None:
    pytest.importorskip("torch")
    from segblur.training.models import list_models

    assert tuple(list_models()) == names.ARCHITECTURES


def test_names_import_neither_onnxruntime_nor_torch() -> None:
    code = ("import sys, segblur.names, segblur.io; "
            "print(any(m in sys.modules for m in ('onnxruntime', 'torch', 'cv2', 'numpy')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_write_atomic_takes_bytes_or_a_writer(tmp_path) -> None:
    io.write_atomic(tmp_path / "a" / "x.bin", b"abc")
    io.write_atomic(tmp_path / "a" / "y.bin", lambda f: f.write(b"def"))
    assert (tmp_path / "a" / "x.bin").read_bytes() == b"abc"
    assert (tmp_path / "a" / "y.bin").read_bytes() == b"def"
    with pytest.raises(ZeroDivisionError):
        io.write_atomic(tmp_path / "a" / "x.bin", lambda f: 1 / 0)
    assert (tmp_path / "a" / "x.bin").read_bytes() == b"abc"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["x.bin", "y.bin"]


def test_read_ids_skips_blanks_comments_and_repeats(tmp_path) -> None:
    (tmp_path / "s.txt").write_text("a\n\n# note\n b \na\nc\n")
    assert io.read_ids(tmp_path / "s.txt") == ["a", "b", "c"]


def test_one_line_of_a_worker_traceback_is_the_original_message() -> None:
    text = ("Caught ValueError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
            '  File "x.py", line 1, in f\nValueError: x.png: mask size 3x4 differs')
    assert io.one_line(RuntimeError(text)) == "x.png: mask size 3x4 differs"
