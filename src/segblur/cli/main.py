"""``segblur`` command: image, mask, models, benchmark."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .. import __version__

EFFECTS = ["blur", "box", "bokeh", "pixelate", "grayscale", "color", "image"]  # runtime.effects.EFFECTS
DEFAULT_MODEL = "person-fast"  # runtime.model.DEFAULT_MODEL (kept literal: importing it loads ONNX Runtime)


def _int_in(lo: int, hi: int | None = None):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is outside {lo}..{hi if hi is not None else ''}")
        return v

    return parse


def _finite(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def _keep(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [k for v in values for k in v.split(",") if k]


def _add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default="default",
                   help=f"built-in model name or .onnx file (default: {DEFAULT_MODEL}; see `segblur models`)")
    g.add_argument("--keep", action="append", metavar="CLASS[,CLASS]",
                   help="classes kept sharp / counted as foreground (default: the model's, e.g. person)")
    g.add_argument("--threads", type=_int_in(1), default=None, help="ONNX Runtime threads (default: all cores)")
    g.add_argument("--provider", action="append", dest="providers", metavar="NAME",
                   help="ONNX Runtime execution provider, e.g. CUDAExecutionProvider (default: best available)")


def _add_mask_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("mask edge")
    g.add_argument("--threshold", type=_finite, default=None, help="probability at the edge (default 0.5)")
    g.add_argument("--softness", type=_finite, default=None, help="width of the soft edge, 0..1 (0 = hard)")
    g.add_argument("--grow", type=_int_in(-10000, 10000), default=0,
                   help="grow (>0) or shrink (<0) the foreground by N pixels")
    g.add_argument("--feather", type=_finite, default=0.0, help="extra Gaussian feather of the edge, in pixels")
    g.add_argument("--no-guided", dest="guided", action="store_false",
                   help="plain bilinear mask upsampling instead of the edge-aware guided filter")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (exposed for tests and docs)."""
    ap = argparse.ArgumentParser(prog="segblur", description="Blur or filter the background of photos, "
                                 "using segmentation models (people are kept sharp by default).")
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
    g = p.add_argument_group("effect")
    g.add_argument("--effect", choices=EFFECTS, default=None,
                   help="what happens to the background (default: blur; image when --background is given)")
    g.add_argument("--strength", type=_finite, default=None, help="effect strength 0..1 (default: per effect)")
    g.add_argument("--background", metavar="IMAGE", default=None, help="replacement background picture")
    g.add_argument("--color", default=None, help="colour for --effect color: #RRGGBB, R,G,B or a name")
    g.add_argument("--invert", action="store_true", help="apply the effect to the kept classes instead")
    p.add_argument("--quality", type=_int_in(0, 100), default=95, help="JPEG/WebP quality 0..100 (default 95)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    _add_model_options(p)
    _add_mask_options(p)
    p.set_defaults(func="cmd_image")

    p = sub.add_parser("mask", help="write segmentation masks as PNG",
                       description="Write OUTDIR/<input stem>.png: 255 = foreground (kept classes), 0 = "
                       "background, at the input's size; --soft writes 8-bit probabilities instead.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--soft", action="store_true", help="8-bit probabilities (0..255) instead of 0/255")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    _add_model_options(p)
    _add_mask_options(p)
    p.set_defaults(func="cmd_mask")

    p = sub.add_parser("models", help="list the built-in models and their cards")
    p.add_argument("name", nargs="?", help="show only this model")
    p.add_argument("--brief", action="store_true", help="one line per model, no cards")
    p.set_defaults(func="cmd_models")

    p = sub.add_parser("benchmark", help="time each pipeline stage on a frame (and a reference pipeline)",
                       description="Per-stage milliseconds of Pipeline.process on one frame, median of "
                       "--repeats runs, and the same for the MediaPipe-style reference when --reference is given.")
    p.add_argument("--size", default="1280x720", help="frame size WxH (default 1280x720)")
    p.add_argument("--image", type=Path, default=None, help="photo to use (default: the bundled sample)")
    p.add_argument("--effect", action="append", choices=EFFECTS, default=None,
                   help="effect(s) to time (default: blur; image uses the mirrored frame as the picture)")
    p.add_argument("--repeats", type=_int_in(1), default=100)
    p.add_argument("--reference", type=Path, default=None, metavar="TFLITE",
                   help="MediaPipe selfie_segmentation.tflite to time alongside (needs segblur[bench])")
    p.add_argument("--json", type=Path, default=None, help="also write the results as JSON")
    _add_model_options(p)
    p.set_defaults(func="cmd_benchmark")
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
        args.keep = _keep(args.keep)
    try:
        return int(getattr(commands, args.func)(args))
    except commands.FatalError as e:
        print(f"segblur: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
