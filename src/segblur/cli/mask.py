"""``segblur mask``: one PNG mask per input image, hard (0/255) or soft (the probability in 0..255)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_mask_options, add_model_options

ORDER = 12


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``mask`` subcommand."""
    p = sub.add_parser("mask", help="write segmentation masks as PNG",
                       description="Write OUTDIR/<input stem>.png: 255 = foreground (kept classes), 0 = "
                       "background, at the input's size; --soft writes 8-bit probabilities instead.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="output folder")
    p.add_argument("--soft", action="store_true", help="8-bit probabilities (0..255) instead of 0/255")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add_model_options(p)
    add_mask_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write OUTDIR/<stem>.png for every input; 1 when some inputs failed."""
    from ..media.images import Job, plan_jobs, read_image, write_image
    from ..runtime.masks import mask_8bit, mask_edge
    from .common import CommandError, make_pipeline, run_jobs

    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out}: exists and is not a folder (mask writes OUTDIR/<stem>.png)")
    try:
        edge = mask_edge(args.soft, args.threshold, args.softness)
    except ValueError:
        raise CommandError("--soft writes probabilities; --threshold and --softness do not apply to it") from None
    # The mask is the pipeline's refined alpha; "color" is merely the cheapest effect to set up (it is never drawn).
    pipe = make_pipeline(argparse.Namespace(**{**vars(args), **edge}), effect="color")
    jobs, errors = plan_jobs(args.inputs, out, suffix=".png", single_file_ok=False)

    def work(job: Job) -> None:
        write_image(job.dst, mask_8bit(pipe.mask(read_image(job.src)), soft=args.soft))

    return run_jobs(jobs, errors, work, quiet=args.quiet, output=args.output)
