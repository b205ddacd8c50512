"""``segblur video``: blur the background of video files, keeping audio and subtitles as they are."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from .common import add_effect_options, add_mask_options, add_model_options, add_stream_options, finite, int_in

if TYPE_CHECKING:
    from ..media.video import VideoStats

ORDER = 20


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``video`` subcommand."""
    p = sub.add_parser("video", help="blur the background of video files (audio and subtitles copied)",
                       description="Run every frame of each video through the pipeline and re-encode it with the "
                       "same size (an odd width or height is padded by one edge pixel, with a note, where the "
                       "codec needs even sides, as H.264 does; .webm keeps it), frame rate, timestamps and colours; "
                       "audio and subtitle streams are copied "
                       "unchanged (re-encoded or converted, with a note, where the output container cannot hold "
                       "them). "
                       "OUTPUT is a file for one input, otherwise a folder (OUTPUT/<input name>). Outputs are "
                       "written to a temp file and renamed, so a failure or Ctrl-C leaves nothing half-written. "
                       "--alpha writes the person on a transparent background instead, for video editors.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="video files (mp4, mov, mkv, webm, avi, ...)")
    p.add_argument("-o", "--output", required=True, metavar="OUTPUT", help="output file, or folder for several")
    add_effect_options(p)
    g = p.add_argument_group("video")
    g.add_argument("--codec", default=None,
                   help="video encoder (default: libx264; libvpx-vp9 for .webm), e.g. libx265, mpeg4")
    g.add_argument("--crf", type=finite, default=None,
                   help="constant quality, lower is better (default: 23 for libx264, 32 for libvpx-vp9)")
    g.add_argument("--preset", default=None,
                   help="libx264/libx265 speed preset, ultrafast..veryslow (default: veryfast; for libx264 with "
                   "subme=1, which encodes 1080p about 40%% faster for 7%% more bits)")
    g.add_argument("--alpha", action="store_true",
                   help="write the person on a transparent background (the frame with the mask as its alpha "
                   "channel; no effect): .mov as ProRes 4444, .webm as VP9 with alpha, .mkv as FFV1; audio kept")
    g.add_argument("--workers", type=int_in(1, 64), default=None, metavar="N",
                   help="frames the model works on at once, each with --threads ONNX Runtime threads (default: the "
                   "cores, at most 4, with 1 thread each); the result is the same, only faster")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary lines")
    add_stream_options(p, stream=True, files=True)
    add_model_options(p)
    add_mask_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Process each input; one line per failure, a summary per success; 1 if any input failed."""
    from .common import CommandError, check_outputs, chosen_effect, make_pipeline, model_file, stream_settings

    if args.alpha and (args.effect or args.background or args.color or args.strength is not None):
        raise CommandError("--alpha writes the person on a transparent background: no --effect, --strength, "
                           "--background or --color")
    effect = chosen_effect(args)
    check_outputs([args.output], [model_file(args.model), args.background], sources=args.inputs)
    if args.threads is None:  # several frames in flight, one core each: less CPU than threads within one run
        args.threads = 1
    pipe = make_pipeline(args, effect=effect, strength=args.strength, background=args.background, color=args.color,
                         invert=args.invert, **stream_settings(args, stream=True))
    if args.alpha:
        pipe.view = "rgba"
    return report_videos(pipe, args, kind="rgba" if args.alpha else "rgb", codec=args.codec, crf=args.crf,
                         preset=args.preset, workers=args.workers)


def report_videos(processor: object, args: argparse.Namespace, **settings: object) -> int:
    """Run ``media.video.process_videos`` on ``args.inputs`` -> ``args.output`` with a progress line; one line per
    failure, a summary per success unless ``args.quiet``; 1 if any input failed (``segblur video`` and ``mask``)."""
    from ..media import video
    from ..progress import Progress
    from .common import CommandError, report

    failed = done = 0
    try:
        results = video.process_videos(args.inputs, args.output, processor, notify=report,
                                       progress=lambda total: Progress(total, "frames", enabled=not args.quiet),
                                       **settings)
        for result in results:
            if result.error:
                report(result.error)
                failed += 1
            else:
                done += 1
                if not args.quiet:
                    report(_summary(result.dst, result.stats))
    except video.VideoError as e:
        raise CommandError(str(e)) from None
    if done + failed > 1 and not args.quiet:  # as segblur image ends: the tally, when there were several
        report(f"{done} written to {args.output}" + (f", {failed} failed" if failed else ""))
    return 1 if failed else 0


def _summary(dst: Path, stats: VideoStats) -> str:
    """The line reported for one finished video."""
    kept = f"{stats.copied_streams - stats.converted_streams} audio/subtitle stream(s) copied" + \
        (f", {stats.converted_streams} converted" if stats.converted_streams else "")
    return (f"{dst}: {stats.frames} frames, {stats.width}x{stats.height} at {float(stats.fps):.3g} fps, "
            f"{stats.duration:.2f} s, {kept}; {stats.rate:.1f} frames/s")
