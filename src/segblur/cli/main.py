"""``segblur`` command: the top-level parser; each subcommand lives in its own module of ``segblur.cli``."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import sys

from .. import __version__
from ..interrupts import Terminated, interrupt_on_signals, interrupted_message, interrupted_status
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
    for p in sub.choices.values():  # -v after the subcommand too (SUPPRESS: it never unsets one given before)
        p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                       help="log the model and execution provider used")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 some inputs failed, 2 usage or fatal error, 130 Ctrl-C,
    143 SIGTERM, 129 SIGHUP, 141 when the reader of its output went away, as ``cat`` in ``cat f | head -1``).

    SIGTERM and SIGHUP take Ctrl-C's path (:mod:`segblur.interrupts`), so however a run is stopped its temp
    files are removed and recordings finalised.
    """
    with interrupt_on_signals():
        try:
            status = _main(argv)
            if sys.stdout is not None:  # None when started with standard output closed (`>&-`)
                sys.stdout.flush()  # here, where a reader gone away (`| head -1`) is caught, not at interpreter exit
            return status
        except KeyboardInterrupt as e:
            with contextlib.suppress(OSError):
                print(("\n" if not isinstance(e, Terminated) else "") + f"segblur: {interrupted_message(e)}",
                      file=sys.stderr)
            return interrupted_status(e)
        except BrokenPipeError:
            # The reader of the output went away (`segblur models --full | head -1`): end quietly, as cat or grep
            # do, with 128 + SIGPIPE (what the shell shows for them, and how segblur reports other signals).
            # Standard output now points at /dev/null so that the interpreter's final flush cannot fail again.
            import os

            with contextlib.suppress(OSError, ValueError):
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 141  # 128 + SIGPIPE (13)


# A device or disk that takes no more: no space, over quota, an I/O error (errno names, where the system has them).
FULL = tuple(getattr(errno, n) for n in ("ENOSPC", "EDQUOT", "EIO") if hasattr(errno, n))


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="segblur: %(message)s")
    import cv2

    # Problems are reported by segblur, one line per file; OpenCV's and libpng's own chatter would double them.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    if hasattr(args, "keep"):
        args.keep = keep_list(args.keep)
    try:
        from ..media.limits import env_limit

        try:
            env_limit()  # a bad SEGBLUR_MAX_PIXELS is said once, up front, not ignored
        except ValueError as e:
            raise CommandError(str(e)) from None
        return int(args.func(args))
    except CommandError as e:
        print(f"segblur: error: {e}", file=sys.stderr)
        return e.status
    except (RuntimeError, OSError) as e:
        from ..io import NO_THREAD, thread_refused

        if thread_refused(e):  # the system's limit (ulimit -u), whichever command or library met it
            print(f"segblur: error: {NO_THREAD}", file=sys.stderr)
            return 2
        if isinstance(e, OSError) and e.filename is None and e.errno in FULL:
            # a disk full or failing under a write that names no file: standard output (`> /dev/full`), a log
            print(f"segblur: error: cannot write ({e.strerror or e})", file=sys.stderr)
            return 2
        if not isinstance(e, OSError) or e.filename is None:
            raise
        # a path the system refuses (name too long, no permission...) wherever it was first used
        print(f"segblur: error: {e.filename}: {e.strerror or e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("segblur: error: out of memory", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
