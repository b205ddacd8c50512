"""``segblur mask``: one PNG mask per input image, hard (0/255) or soft (the probability in 0..255)."""

from __future__ import annotations

import argparse

from .common import add_mask_options, add_model_options

ORDER = 12


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``mask`` subcommand."""
    p = sub.add_parser("mask", help="write segmentation masks as PNG",
                       description="Write OUT/<input stem>.png: 255 = foreground (kept classes), 0 = "
                       "background, at the input's size; --soft writes 8-bit probabilities instead. "
                       "OUT is the .png file for one input file, otherwise a folder (created if needed).")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="output .png file, or folder")
    p.add_argument("--soft", action="store_true", help="8-bit probabilities (0..255) instead of 0/255")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add_model_options(p)
    add_mask_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write OUT/<stem>.png for every input (OUT itself for one input named like a .png); 1 when some failed."""
    from ..media.images import ImageError, Job, plan_jobs, read_image, write_image
    from ..runtime.masks import mask_8bit, mask_edge
    from .common import CommandError, check_outputs, make_pipeline, model_file, run_jobs

    check_outputs([args.output], [model_file(args.model)])
    try:
        edge = mask_edge(args.soft, args.threshold, args.softness)
    except ValueError:
        raise CommandError("--soft writes probabilities; --threshold and --softness do not apply to it") from None
    try:
        jobs, errors = plan_jobs(args.inputs, args.output, suffix=".png")
    except ImageError as e:
        raise CommandError(str(e)) from None
    # The mask is the pipeline's refined alpha; "color" is merely the cheapest effect to set up (it is never drawn).
    pipe = make_pipeline(argparse.Namespace(**{**vars(args), **edge}), effect="color")

    def work(job: Job) -> None:
        write_image(job.dst, mask_8bit(pipe.mask(read_image(job.src)), soft=args.soft))

    return run_jobs(jobs, errors, work, quiet=args.quiet, output=args.output)
