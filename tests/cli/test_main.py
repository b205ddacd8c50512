"""The ``segblur`` command itself: usage, version, the subcommand modules, the console entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import save_image, split_image

from segblur.cli.main import build_parser, main
from segblur.media.images import read_image


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main([])
    assert ei.value.code == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import segblur

    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert segblur.__version__ in capsys.readouterr().out


def test_parser_knows_every_effect() -> None:
    from segblur import list_effects

    ns = build_parser().parse_args(["image", "a.png", "-o", "b", "--effect", list_effects()[-1]])
    assert ns.effect == list_effects()[-1]


def test_console_entry_point_runs(tmp_path: Path, model_path: Path) -> None:
    exe = shutil.which("segblur", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "segblur"]
    src = save_image(tmp_path / "in.png", split_image(20, 24))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([*cmd, "image", str(src), "-o", str(tmp_path / "o.png"), "--model", str(model_path),
                        "--threads", "1"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert read_image(tmp_path / "o.png").shape == (20, 24, 3)


def test_every_subcommand_module_adds_its_parsers_and_help_lists_them_in_order() -> None:
    import argparse
    import importlib
    import pkgutil

    from segblur import cli

    names = [m.name for m in pkgutil.iter_modules(cli.__path__) if m.name not in ("main", "common")]
    assert {"image", "mask", "models", "benchmark", "video", "camera", "train", "evaluate"} <= set(names)
    for name in names:
        mod = importlib.import_module(f"segblur.cli.{name}")
        assert callable(mod.add_parsers) and isinstance(mod.ORDER, int), name
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    assert list(sub.choices)[:6] == ["image", "mask", "models", "benchmark", "video", "camera"]  # --help's order


def test_cli_modules_import_no_private_names_of_each_other() -> None:
    # What subcommands share is public, in common.py; nobody reaches into another command's module.
    import ast

    import segblur.cli

    for path in Path(segblur.cli.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from .{node.module or ''}"
