"""``segblur image``: apply an effect to the background of image files or folders."""

from __future__ import annotations

import argparse

from .common import add_effect_options, add_mask_options, add_model_options, add_stream_options, int_in

ORDER = 10


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``image`` subcommand."""
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
    add_stream_options(p, stream=False, files=False)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """The effect on every input, written to OUT; 1 when some inputs failed."""
    from ..media.images import ImageError, Job, plan_jobs, read_picture, write_image
    from .common import (
        CommandError,
        check_outputs,
        chosen_effect,
        make_pipeline,
        model_file,
        report,
        run_jobs,
        stream_settings,
    )

    effect = chosen_effect(args)
    check_outputs([args.output], [model_file(args.model), args.background], sources=args.inputs)
    try:
        jobs, errors = plan_jobs(args.inputs, args.output, protect=[args.background] if args.background else ())
    except ImageError as e:
        raise CommandError(str(e)) from None
    pipe = make_pipeline(args, effect=effect, strength=args.strength, background=args.background, color=args.color,
                         invert=args.invert, **stream_settings(args, stream=False))

    def work(job: Job) -> None:
        picture = read_picture(job.src)
        out, lost = picture.restore(pipe.process(picture.rgb, still=True), job.dst.suffix)
        write_image(job.dst, out, quality=args.quality)
        if lost:
            report(f"note: {job.dst}: {' and '.join(lost)} of {job.src} not kept")

    return run_jobs(jobs, errors, work, quiet=args.quiet, output=args.output)
