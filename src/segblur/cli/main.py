"""``segblur`` command: the top-level parser; each subcommand lives in its own module of ``segblur.cli``."""

from __future__ import annotations

import argparse
import logging
import sys

from .. import __version__
from .common import CommandError, keep_list


def _subcommand_modules() -> list:
    """The subcommand modules of ``segblur.cli``: every module but main and common, each adding its own
    subcommands with ``add_parsers(sub)``.

    A subcommand in its own module touches no other command's file; ``ORDER`` sorts them in --help.
    Those modules import only argparse at import time; their work is imported when they run.
    """
    import importlib
    import pkgutil

    from .. import cli

    mods = [importlib.import_module(f"{cli.__name__}.{m.name}") for m in pkgutil.iter_modules(cli.__path__)
            if m.name not in ("main", "common")]
    return sorted(mods, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    ap = argparse.ArgumentParser(prog="segblur", description="Blur or filter the background of photos, videos "
                                 "and camera streams, using segmentation models (people are kept sharp by default); "
                                 "train, evaluate and export those models.")
    ap.add_argument("--version", action="version", version=f"segblur {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="log the model and execution provider used")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in _subcommand_modules():
        mod.add_parsers(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 some inputs failed, 2 usage or fatal error, 130 Ctrl-C)."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("\nsegblur: interrupted", file=sys.stderr)
        return 130


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="segblur: %(message)s")
    import cv2

    # Problems are reported by segblur, one line per file; OpenCV's and libpng's own chatter would double them.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    if hasattr(args, "keep"):
        args.keep = keep_list(args.keep)
    try:
        return int(args.func(args))
    except CommandError as e:
        print(f"segblur: error: {e}", file=sys.stderr)
        return e.status


if __name__ == "__main__":
    raise SystemExit(main())
