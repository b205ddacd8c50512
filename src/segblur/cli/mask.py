"""``segblur mask``: one PNG mask per input image, hard (0/255) or soft (the probability in 0..255); for a video,
its matte: one PNG per frame or a lossless grey video, smoothed in time as ``segblur video`` does."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_mask_options, add_model_options, add_stream_options

ORDER = 12


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``mask`` subcommand."""
    p = sub.add_parser("mask", help="write segmentation masks as PNG (or a video's matte)",
                       description="Write OUT/<input stem>.png: 255 = foreground (kept classes), 0 = "
                       "background, at the input's size; --soft writes 8-bit probabilities instead. "
                       "OUT is the .png file for one input file, otherwise a folder (created if needed). Video "
                       "inputs get their matte, with the temporal smoothing of `segblur video`: -o DIR writes "
                       "DIR/000001.png... (DIR/<video stem>/ for several videos), -o FILE.mkv or .mov a lossless "
                       "grey video (FFV1, PNG) with the input's timing.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders, or video files")
    p.add_argument("-o", "--output", required=True, metavar="OUT",
                   help="output .png file, or folder (for one video: a folder, or a .mkv/.mov matte video)")
    p.add_argument("--soft", action="store_true", help="8-bit probabilities (0..255) instead of 0/255")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    add_model_options(p)
    add_mask_options(p)
    add_stream_options(p, stream=False, files=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write OUT/<stem>.png for every image input (OUT itself for one input named like a .png), or each video's
    matte; 1 when some failed."""
    from ..media.video.codecs import VIDEO_SUFFIXES
    from ..runtime.masks import mask_edge
    from .common import CommandError, check_outputs, make_pipeline, model_file, stream_settings

    # Masks are .png files: written into a photo folder they replace no photo (a .png one is refused per file by
    # plan_jobs), so `mask photos/ -o photos/` stays allowed; the files given may not be the output.
    check_outputs([args.output], [model_file(args.model)], sources=[i for i in args.inputs if not Path(i).is_dir()])
    try:
        edge = mask_edge(args.soft, args.threshold, args.softness)
    except ValueError:
        raise CommandError("--soft writes probabilities; --threshold and --softness do not apply to it") from None
    videos = [i for i in args.inputs if Path(i).suffix.lower() in VIDEO_SUFFIXES and not Path(i).is_dir()]
    if videos and len(videos) < len(args.inputs):
        raise CommandError("give either images and folders or video files, not both")
    if videos and args.threads is None:  # a video's frames in flight, one core each (as segblur video)
        args.threads = 1
    # The mask is the pipeline's refined alpha; "color" is merely the cheapest effect to set up (it is never drawn).
    pipe = make_pipeline(argparse.Namespace(**{**vars(args), **edge}), effect="color",
                         **stream_settings(args, stream=bool(videos)))
    if videos:
        from .video import report_videos

        pipe.view = "alpha" if args.soft else "binary"
        return report_videos(pipe, args, kind="matte")
    return _images(pipe, args)


def _images(pipe: object, args: argparse.Namespace) -> int:
    from ..media.images import ImageError, Job, plan_jobs, read_image, write_image
    from ..runtime.masks import mask_8bit
    from .common import CommandError, run_jobs

    try:
        jobs, errors = plan_jobs(args.inputs, args.output, suffix=".png")
    except ImageError as e:
        raise CommandError(str(e)) from None

    def work(job: Job) -> None:
        write_image(job.dst, mask_8bit(pipe.mask(read_image(job.src)), soft=args.soft))

    return run_jobs(jobs, errors, work, quiet=args.quiet, output=args.output)
