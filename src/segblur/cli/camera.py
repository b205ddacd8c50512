"""``segblur camera``: a live camera (or a file or stream played like one) with preview, virtual camera, recording."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_effect_options, add_mask_options, add_model_options, finite, int_in, size

ORDER = 30


def _rate(text: str) -> float:
    v = finite(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"frame rate must be positive, got {text}")
    return v


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``camera`` subcommand."""
    p = sub.add_parser(
        "camera", help="live background blur of a camera: preview window, virtual camera, recording",
        description="Blur the background of a live camera (or of a video file or stream, played in real time) and "
        "show it in a window, send it to a virtual camera for video calls (--virtual) and/or record it (--record). "
        "Preview keys: e/E effect, +/- strength, b background picture, m mask view, t smoothing, q or Esc quit. "
        "Frames the model cannot keep up with are dropped, so the delay stays at one or two frames. "
        "Exit status: 0 done, 1 the source was lost mid-stream or an output failed, 2 the source or an output "
        "cannot be opened, 130 Ctrl-C (recordings are finalised in every case).")
    p.add_argument("--source", default="0", metavar="SOURCE",
                   help="camera index (default 0), /dev/videoN, a video file or a stream URL (rtsp://, http://)")
    p.add_argument("--size", type=size, default=None, metavar="WxH",
                   help="frame size to ask the camera for, e.g. 1280x720 (it may give another; default: its own); "
                   "a video file or stream is resized to it")
    p.add_argument("--fps", type=_rate, default=None,
                   help="frame rate to ask the camera for; for a file, the rate it is played at (default: its own)")
    g = p.add_argument_group("output")
    g.add_argument("--no-preview", dest="preview", action="store_false", help="no window (headless)")
    g.add_argument("--virtual", action="store_true", help="send the frames to a virtual camera (pyvirtualcam)")
    g.add_argument("--virtual-device", default=None, metavar="DEV",
                   help="virtual camera device, e.g. /dev/video10 (default: the first one found)")
    g.add_argument("--record", type=Path, default=None, metavar="FILE",
                   help="also save the shown frames as a video (.mp4, .mkv, .mov, .webm, .avi)")
    g.add_argument("--frames", type=int_in(1), default=None, metavar="N", help="stop after N frames shown")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress line and no final report")
    g = add_effect_options(p, multi_background=True)
    g.add_argument("--no-temporal", dest="temporal", action="store_false",
                   help="no smoothing of the mask across frames (it is on by default against flicker)")
    add_model_options(p)
    add_mask_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open the source, the pipeline and the outputs, stream until done, report; returns the exit status."""
    import sys

    from ..io import one_line
    from ..media import camera
    from ..media.camera import Controls, PreviewWindow
    from ..media.camera.preview import gui_problem
    from ..media.images import ImageError, read_image
    from ..media.video import VideoError, same_file
    from ..progress import Progress
    from ..runtime.effects import parse_color
    from .common import CommandError, make_pipeline, report

    effect = args.effect or ("image" if args.background else "blur")
    if effect == "image" and not args.background:
        raise CommandError("--effect image needs --background")
    preview = args.preview
    if preview and (problem := gui_problem()):
        if not (args.virtual or args.record):
            raise CommandError(f"{problem}; install opencv-python for it (it replaces opencv-python-headless), "
                             "or run with --no-preview, --virtual or --record")
        report(f"{problem}; running without it")
        preview = False
    if args.record is not None and Path(args.source).is_file() and same_file(args.record, Path(args.source)):
        raise CommandError(f"{args.record}: is the source; choose another file to record to")
    try:
        backgrounds = tuple(read_image(b) for b in args.background or ())
    except ImageError as e:
        raise CommandError(str(e)) from None
    try:
        color = parse_color(args.color) if args.color is not None else None
    except ValueError as e:
        raise CommandError(str(e)) from None
    pipe = make_pipeline(args, effect=effect, strength=args.strength,
                         background=backgrounds[0] if backgrounds else None,
                         color=color if effect == "color" else None, invert=args.invert, temporal=args.temporal)
    try:
        source = camera.open_source(args.source, args.size, args.fps)
    except camera.SourceError as e:
        raise CommandError(str(e)) from None

    sinks: list = []
    try:
        if preview:
            sinks.append(PreviewWindow(f"segblur - {source.name}"))
        virtual = None
        if args.virtual:
            virtual = camera.VirtualCamera(source.width, source.height, source.fps, device=args.virtual_device)
            sinks.append(virtual)
        recorder = camera.RecordSink(args.record, source.width, source.height, source.fps) if args.record else None
    except camera.SinkError as e:
        for s in sinks:
            s.close()
        source.close()
        raise CommandError(str(e)) from None
    if recorder is not None:
        sinks.append(recorder)

    if not args.quiet:
        outs = (["preview"] if preview else []) + ([f"virtual camera {virtual.device}"] if virtual else []) + \
            ([f"recording to {args.record}"] if recorder else [])
        report(f"{source.name}: {source.width}x{source.height} at {float(source.fps):.3g} fps -> "
                f"{', '.join(outs) or 'no output (headless)'}" + ("" if preview else "; Ctrl-C stops"))
    progress = Progress(args.frames, "frames", enabled=not args.quiet and not preview)
    controls = Controls(backgrounds=backgrounds, color=color)

    def on_frame(st: camera.StreamStats) -> None:
        if progress.enabled:  # live per-stage and end-to-end latency, only where a progress line shows it
            progress.extra = st.stage_line()
        progress.update()

    try:
        stats = camera.run_stream(source, pipe, sinks, frames=args.frames, controls=controls, on_frame=on_frame)
    except (VideoError, camera.SinkError) as e:
        progress.close()
        report(str(e))
        return 1
    except (OSError, RuntimeError, ValueError) as e:  # a sink or the pipeline failed mid-stream
        progress.close()
        report(f"{source.name}: stream stopped ({one_line(e)})")
        return 1
    progress.close()
    if not args.quiet:
        s = stats.summary()
        report(f"{stats.shown} frames shown of {stats.captured} captured ({stats.dropped} dropped), "
                f"{s['fps']:.1f} fps")
        if stats.shown:
            stages = ", ".join(f"{k} {v:.1f}" for k, v in s["stages_median_ms"].items())
            report(f"latency capture to output: median {s['latency_median_ms']:.1f} ms, "
                    f"p95 {s['latency_p95_ms']:.1f} ms; median ms per stage: {stages}")
        if recorder is not None:
            report(f"recorded {recorder.frames} frames to {args.record}")
    if stats.ended == "lost":
        report(stats.message + (f"; recording saved to {args.record}" if recorder is not None else ""))
        return 1
    if stats.ended == "interrupted":
        print("segblur: interrupted", file=sys.stderr)
        return 130
    return 0

