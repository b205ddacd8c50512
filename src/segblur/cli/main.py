"""``segblur`` command: image, mask, models, benchmark here; the other subcommands each in their own cli module."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .. import __version__
from .common import (
    EFFECTS,
    CommandError,
    add_effect_options,
    add_mask_options,
    add_model_options,
    finite,
    int_in,
    keep_list,
)


def _subcommand_modules() -> list:
    """The subcommand modules of ``segblur.cli``: every module but main, common and commands, each adding its
    own subcommands with ``add_parsers(sub)``.

    A subcommand in its own module touches no other command's file; ``ORDER`` sorts them in --help.
    Those modules import only argparse at import time; their work is imported when they run.
    """
    import importlib
    import pkgutil

    from .. import cli

    mods = [importlib.import_module(f"{cli.__name__}.{m.name}") for m in pkgutil.iter_modules(cli.__path__)
            if m.name not in ("main", "common", "commands")]
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

    p = sub.add_parser("image", help="blur the background of image files or folders",
                       description="Apply an effect to everything but the kept classes of each image. "
                       "OUT is a file for one input file, otherwise a folder (created if needed). "
                       "Inputs are never overwritten; outputs are written atomically.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output file or folder")
    add_effect_options(p)
    p.add_argument("--quality", type=int_in(0, 100), default=95, help="JPEG/WebP quality 0..100 (default 95)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add_model_options(p)
    add_mask_options(p)
    p.set_defaults(func="cmd_image")

    p = sub.add_parser("mask", help="write segmentation masks as PNG",
                       description="Write OUTDIR/<input stem>.png: 255 = foreground (kept classes), 0 = "
                       "background, at the input's size; --soft writes 8-bit probabilities instead.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--soft", action="store_true", help="8-bit probabilities (0..255) instead of 0/255")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add_model_options(p)
    add_mask_options(p)
    p.set_defaults(func="cmd_mask")

    p = sub.add_parser("models", help="list the built-in models and their cards")
    p.add_argument("name", nargs="?", help="show only this model")
    p.add_argument("--brief", action="store_true", help="one line per model, no cards")
    p.set_defaults(func="cmd_models")

    p = sub.add_parser("benchmark", help="time each pipeline stage on a frame (and a reference pipeline)",
                       description="Per-stage milliseconds of Pipeline.process on one frame, median of "
                       "--repeats runs, and the same for the MediaPipe-style reference when --reference is given. "
                       "--stream adds the camera loop (fps, dropped frames, latency), flicker and video file speed.")
    p.add_argument("--size", default="1280x720", metavar="WxH",
                   help="frame size WxH (default 1280x720)")  # checked by cmd_benchmark: a bad size exits 2
    p.add_argument("--image", type=Path, default=None, help="photo to use (default: the bundled sample)")
    p.add_argument("--effect", action="append", choices=EFFECTS, default=None,
                   help="effect(s) to time (default: blur; image uses the mirrored frame as the picture)")
    p.add_argument("--repeats", type=int_in(1), default=100)
    p.add_argument("--reference", type=Path, default=None, metavar="TFLITE",
                   help="MediaPipe selfie_segmentation.tflite to time alongside (needs segblur[bench])")
    p.add_argument("--stream", action="store_true",
                   help="also measure streams: the threaded camera loop on a synthetic source paced at 30 fps and "
                   "at 1000 fps (as fast as it goes), mask flicker on a still noisy scene with temporal smoothing "
                   "off and on, and 1920x1080 video file throughput")
    p.add_argument("--stream-seconds", type=finite, default=10.0, metavar="S",
                   help="seconds of each threaded stream run (default 10)")
    p.add_argument("--file-frames", type=int_in(0), default=60, metavar="N",
                   help="frames of the 1920x1080 clip for --stream's video file throughput (default 60; 0 skips it)")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    add_model_options(p)
    p.set_defaults(func="cmd_benchmark")
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
    from . import commands

    if hasattr(args, "keep"):
        args.keep = keep_list(args.keep)
    try:
        if callable(args.func):  # subcommand modules set the function itself
            return int(args.func(args))
        return int(getattr(commands, args.func)(args))
    except CommandError as e:
        print(f"segblur: error: {e}", file=sys.stderr)
        return e.status


if __name__ == "__main__":
    raise SystemExit(main())
