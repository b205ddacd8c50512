"""``segblur video``: blur the background of video files, keeping audio and subtitles as they are."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_effect_options, add_mask_options, add_model_options, finite

ORDER = 20


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``video`` subcommand."""
    p = sub.add_parser("video", help="blur the background of video files (audio and subtitles copied)",
                       description="Run every frame of each video through the pipeline and re-encode it with the "
                       "same size, frame rate, timestamps and colours; audio and subtitle streams are copied "
                       "unchanged (re-encoded or converted, with a note, where the output container cannot hold "
                       "them). "
                       "OUTPUT is a file for one input, otherwise a folder (OUTPUT/<input name>). Outputs are "
                       "written to a temp file and renamed, so a failure or Ctrl-C leaves nothing half-written.")
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
    g.add_argument("--no-temporal", dest="temporal", action="store_false",
                   help="treat every frame on its own (default: smooth the mask across frames against flicker)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress or summary lines")
    add_model_options(p)
    add_mask_options(p)
    p.set_defaults(func=run)


def _outputs(inputs: list[str], output: str) -> list[tuple[Path, Path]]:
    out = Path(output)
    if len(inputs) == 1 and not out.is_dir():
        return [(Path(inputs[0]), out)]
    return [(Path(i), out / Path(i).name) for i in inputs]


def run(args: argparse.Namespace) -> int:
    """Process each input; one line per failure, a summary per success; 1 if any input failed."""
    import cv2

    from ..io import one_line
    from ..media import video
    from ..progress import Progress
    from .common import CommandError, chosen_effect, make_pipeline, report

    effect = chosen_effect(args)
    if len(args.inputs) > 1 and Path(args.output).is_file():
        raise CommandError(f"{args.output}: is a file; several inputs need an output folder")
    try:
        video.require_av()  # once, before any input: without PyAV no video can be processed
        if args.codec:
            video.check_codec(args.codec)
    except video.VideoError as e:
        raise CommandError(str(e)) from None
    pipe = make_pipeline(args, effect=effect, strength=args.strength, background=args.background, color=args.color,
                     invert=args.invert, temporal=args.temporal)
    failed, seen = 0, set()
    for src, dst in _outputs(args.inputs, args.output):
        progress = None
        try:
            if dst in seen:
                raise video.VideoError(f"{src}: another input already writes {dst}")
            seen.add(dst)
            info = video.probe_video(src)
            progress = Progress(info.frames, "frames", enabled=not args.quiet)
            stats = video.process_video(src, dst, pipe, codec=args.codec, crf=args.crf, progress=progress,
                                        options={"preset": args.preset} if args.preset else None, notify=report,
                                        info=info)
        except (video.VideoError, cv2.error, MemoryError, ValueError, OSError) as e:  # all one video can cause
            if progress is not None:
                progress.clear()
            if isinstance(e, video.VideoError):
                report(str(e))
            else:
                report(f"{src}: cannot process ({one_line(e)})")
            failed += 1
            continue
        finally:
            if progress is not None:
                progress.close()
        if not args.quiet:
            pad = f", padded to {stats.padded[0]}x{stats.padded[1]}" if stats.padded else ""
            kept = f"{stats.copied_streams - stats.converted_streams} audio/subtitle stream(s) copied" + \
                (f", {stats.converted_streams} converted" if stats.converted_streams else "")
            report(f"{dst}: {stats.frames} frames, {stats.width}x{stats.height}{pad} at {float(stats.fps):.3g} fps, "
                    f"{stats.duration:.2f} s, {kept}; {stats.rate:.1f} frames/s")
    return 1 if failed else 0
