"""``segblur benchmark``: per-stage milliseconds of the pipeline (and of the MediaPipe-style reference), and with
--stream the camera loop, flicker and video file speed."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import EFFECTS, add_model_options, finite, int_in

ORDER = 16


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``benchmark`` subcommand."""
    p = sub.add_parser("benchmark", help="time each pipeline stage on a frame (and a reference pipeline)",
                       description="Per-stage milliseconds of Pipeline.process on one frame, median of "
                       "--repeats runs, and the same for the MediaPipe-style reference when --reference is given. "
                       "--stream adds the camera loop (fps, dropped frames, latency), flicker and video file speed.")
    p.add_argument("--size", default="1280x720", metavar="WxH",
                   help="frame size WxH (default 1280x720)")  # checked by run: a bad size exits 2
    p.add_argument("--image", type=Path, default=None, help="photo to use (default: the bundled sample)")
    p.add_argument("--effect", action="append", choices=EFFECTS, default=None,
                   help="effect(s) to time (default: blur; image uses the mirrored frame as the picture)")
    p.add_argument("--repeats", type=int_in(1), default=100, metavar="N",
                   help="timed runs of each pipeline, after warm-up; the median is reported (default 100)")
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
    p.add_argument("--json", type=Path, default=None,
                   help="also write the results as JSON (-: to standard output, the tables then to standard error)")
    p.add_argument("-q", "--quiet", action="store_true", help="no line as each measurement starts")
    add_model_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the benchmark, print its tables, write --json."""
    from functools import partial

    from ..bench.report import BenchmarkError, format_report, run_benchmark
    from . import common
    from .common import CommandError, check_outputs, make_pipeline, model_file, report, size, write_json

    try:
        frame_size = size(args.size)  # the type camera's --size uses; an error here is a CommandError (exit 2)
    except argparse.ArgumentTypeError as e:
        raise CommandError(str(e)) from None
    if args.stream and not args.stream_seconds > 0:
        raise CommandError(f"--stream-seconds must be positive, got {args.stream_seconds:g}")
    common.check_output_files([args.json])
    check_outputs([args.json], [model_file(args.model), args.image, args.reference])
    try:
        report = run_benchmark(partial(make_pipeline, args), frame_size, image=args.image,
                               effects=args.effect or ["blur"], repeats=args.repeats, reference=args.reference,
                               threads=args.threads, stream_seconds=args.stream_seconds if args.stream else None,
                               file_frames=args.file_frames, notify=(lambda line: None) if args.quiet else report)
    except BenchmarkError as e:
        raise CommandError(str(e)) from None
    print(format_report(report), file=common.table_stream(args.json))
    if args.json:
        write_json(args.json, report)
    return 0
