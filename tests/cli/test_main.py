"""The ``segblur`` command itself: usage, version, the subcommand modules, the console entry point."""

from __future__ import annotations

import os
import shlex
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


def test_every_option_of_every_command_has_help() -> None:
    import argparse

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    bare = [f"{name} {'/'.join(a.option_strings) or a.dest}" for name, parser in sub.choices.items()
            for a in parser._actions if not a.help and not isinstance(a, argparse._HelpAction)]
    assert bare == []


def test_cli_modules_import_no_private_names_of_each_other() -> None:
    # What subcommands share is public, in common.py; nobody reaches into another command's module.
    import ast

    import segblur.cli

    for path in Path(segblur.cli.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from .{node.module or ''}"


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP"])
def test_term_and_hup_take_the_ctrl_c_path(name: str, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    import signal
    import time

    from segblur.cli import models

    cleaned = []

    def run(args: object) -> int:
        try:
            os.kill(os.getpid(), getattr(signal, name))
            time.sleep(5)  # the handler raises in here
            return 0
        finally:
            cleaned.append(True)  # what `finally` and `with` blocks do on Ctrl-C runs on these too

    before = signal.getsignal(signal.SIGTERM)
    monkeypatch.setattr(models, "run", run)
    assert main(["models"]) == 128 + getattr(signal, name)
    assert cleaned == [True]
    assert capsys.readouterr().err.strip() == f"segblur: terminated ({name})"
    assert signal.getsignal(signal.SIGTERM) is before  # handlers are the caller's again afterwards


def test_verbose_works_before_and_after_the_subcommand() -> None:
    parser = build_parser()
    assert parser.parse_args(["-v", "models"]).verbose is True
    assert parser.parse_args(["models", "-v"]).verbose is True
    assert parser.parse_args(["models", "--verbose"]).verbose is True
    assert parser.parse_args(["models"]).verbose is False


def test_a_name_the_system_refuses_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from conftest import one_error_line

    long = "a" * 300
    src = save_image(tmp_path / "in.png", split_image(20, 24))
    cases = [["image", src, "-o", tmp_path / f"{long}.jpg"], ["image", src, "-o", tmp_path / "o.jpg", "--model",
             f"{long}.onnx"], ["mask", src, "-o", tmp_path / long], ["evaluate", "--model", "x.onnx", "--data",
             f"folder:{tmp_path / long}"], ["camera", "--source", f"{long}.mp4", "--no-preview"]]
    for argv in cases:
        code = main([str(a) for a in argv])
        line = one_error_line(capsys.readouterr().err)
        assert code == 2 and "File name too long" in line and long in line, argv


def test_a_signal_ignored_on_purpose_stays_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    import signal

    from segblur.cli import models

    seen = []
    monkeypatch.setattr(models, "run", lambda args: seen.append(signal.getsignal(signal.SIGHUP)) or 0)
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as `nohup segblur ...` starts it
    try:
        assert main(["models"]) == 0
        assert seen == [signal.SIG_IGN] and signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, old)


@pytest.mark.parametrize("command", ["image", "mask", "video", "evaluate", "label", "train", "soup"])
def test_threads_has_an_upper_bound(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--threads 100000 started tens of thousands of threads (16 GB) or crashed: refused at parse time."""
    with pytest.raises(SystemExit) as ei:
        main([command, "x", "--threads", "100000"])
    err = capsys.readouterr().err
    assert ei.value.code == 2 and "--threads: 100000 is outside 1..1024" in err


@pytest.mark.parametrize("error", [RuntimeError("can't start new thread"),
                                   BlockingIOError(11, "Resource temporarily unavailable")])
def test_a_thread_the_system_refuses_is_one_line_for_any_command(
        error: BaseException, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Out of threads (ulimit -u) wherever it is met: one line, exit 2, no traceback; other errors still raise."""
    from segblur.cli import models

    def refused(args: object) -> int:
        raise error

    monkeypatch.setattr(models, "run", refused)
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["segblur: error: the system could not start a thread (too many processes "
                                        "or threads for this user: see ulimit -u)"]

    def broken(args: object) -> int:
        raise RuntimeError("a bug")

    monkeypatch.setattr(models, "run", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["models"])


def test_a_command_started_with_standard_output_closed_still_succeeds(tmp_path: Path) -> None:
    """`segblur models >&-`: Python sets sys.stdout to None; the final flush once made that a traceback, exit 1."""
    r = subprocess.run(f"{shlex.quote(sys.executable)} -m segblur models >&-", shell=True, capture_output=True,
                       text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_standard_output_on_a_full_device_is_one_line() -> None:
    """`segblur models > /dev/full`: one line and exit 2, not an OSError traceback."""
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "segblur", "models", "--full"], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == "segblur: error: cannot write (No space left on device)", \
        r.stderr
