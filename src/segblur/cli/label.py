"""``segblur label``: teacher masks for unlabelled photos (training data), optionally guided by person boxes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import MAX_THREADS, CommandError, finite, int_in

ORDER = 38


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``label`` subcommand."""
    p = sub.add_parser(
        "label", help="write teacher masks for unlabelled photos (training data for segblur train)",
        description="Write OUT/masks/<id>.png for each image (id: the file name without suffix; 0 background, "
        "1 person, 255 ignore) and OUT/labels.json (teachers, settings, ignore and person fraction per image). "
        "With --boxes, each person box is cropped and labelled by the teacher that suits it (MediaPipe pose "
        "for whole standing people, MediaPipe selfie for the rest); pixels outside every box that a teacher "
        "calls person, uncertain pixels, people too small to label and boxes in which the teacher finds nobody "
        "are 255. Without --boxes the teachers find the people themselves. Bad images or box files, and images "
        "whose id an earlier one has, are reported and skipped (exit status 1).")
    p.add_argument("inputs", nargs="+", metavar="IMAGES", help="image files and/or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="output folder")
    p.add_argument("--boxes", type=Path, metavar="DIR",
                   help="folder of <id>.txt person boxes, one 'x0 y0 x1 y1' per line in pixels")
    p.add_argument("--teacher", action="append", dest="teachers", metavar="[KIND=]MODEL",
                   help="a teacher: pose=FILE.tflite, selfie=FILE.tflite or onnx=MODEL (a segblur model name or "
                   ".onnx file); the kind is guessed from the name when left out; repeatable (default: pose "
                   "and selfie from .cache/teachers/, fetched by python benchmarks/fetch_teachers.py)")
    g = p.add_argument_group("settings (defaults tuned on training data)")
    g.add_argument("--margin", type=finite, default=None, metavar="F",
                   help="crop = box grown by F x its long side on every side (default 0.1)")
    # The defaults are LabelSettings' (written out: importing it costs every command 0.2 s; a test compares them).
    g.add_argument("--low", type=finite, default=None, metavar="P",
                   help="probability at or below: background (default 0.35)")
    g.add_argument("--high", type=finite, default=None, metavar="P",
                   help="probability at or above: person (default 0.65); in between: ignore")
    g.add_argument("--min-box", type=finite, default=None, metavar="PX",
                   help="boxes less tall than PX pixels are too small to label: ignore (default 30)")
    existing = p.add_mutually_exclusive_group()
    existing.add_argument("--overwrite", action="store_true",
                          help="relabel these images in OUT; when OUT was made with other teachers or settings, "
                          "all its old masks are removed first (OUT never mixes two kinds of labels)")
    existing.add_argument("--skip-existing", action="store_true",
                          help="keep the masks already in OUT and label the rest (finishes an interrupted run; "
                          "refused when OUT was made with other teachers or settings)")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=None,
                   help="threads per teacher (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Label the images; 1 when some failed."""
    import os
    from dataclasses import replace

    from ..media.images import ImageError, plan_jobs
    from ..training.label import LabelError, LabelSettings
    from ..training.label_set import LabelsExistError, write_labels
    from ..training.teachers import TeacherError, default_teachers, open_teacher
    from .common import check_outputs, report

    # The photos are inputs, not sources: OUT inside an IMAGES folder would have its masks read as photos next time.
    check_outputs([args.output], [args.boxes, *args.inputs])
    given = {"margin": args.margin, "low": args.low, "high": args.high, "min_box": args.min_box}
    try:
        settings = replace(LabelSettings(), **{k: v for k, v in given.items() if v is not None})
    except ValueError as e:
        raise CommandError(str(e)) from None
    try:
        teachers = ([open_teacher(t, args.threads) for t in args.teachers] if args.teachers
                    else default_teachers(threads=args.threads))
    except TeacherError as e:
        raise CommandError(str(e)) from None
    try:  # (the jobs' sources are what counts: masks are named by id, see write_labels)
        jobs, errors = plan_jobs(args.inputs, f"{args.output / 'masks'}{os.sep}", suffix=".png")
    except ImageError as e:
        raise CommandError(str(e)) from None
    for e in errors:
        report(e)
    if not jobs:
        raise CommandError("no images to label")
    existing = "overwrite" if args.overwrite else "skip" if args.skip_existing else "refuse"
    try:
        summary = write_labels([j.src for j in jobs], args.output, teachers, settings, boxes=args.boxes,
                               existing=existing, on_error=report, show_progress=not args.quiet)
    except LabelsExistError as e:
        raise CommandError(f"{e}; use --overwrite, or --skip-existing to finish an interrupted run") from None
    except LabelError as e:
        raise CommandError(str(e)) from None
    failed = summary["failed"] + len(errors)
    if not args.quiet:
        print(f"segblur: {summary['images']} masks in {args.output} ({summary['skipped']} kept from before), "
              f"mean ignored {summary['mean_ignore']}, mean person {summary['mean_person']}"
              + (f", {failed} failed" if failed else ""), file=sys.stderr)
    return 1 if failed else 0
