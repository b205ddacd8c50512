"""``segblur camera``: a live camera (or a file or stream played like one) with preview, virtual camera, recording."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import add_effect_options, add_mask_options, add_model_options, add_stream_options, finite, int_in, size

ORDER = 30


def _rate(text: str) -> float:
    v = finite(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"frame rate must be positive, got {text}")
    return v


def _percent(text: str) -> float:
    v = finite(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"CPU budget must be a positive percentage, got {text}")
    return v


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``camera`` subcommand."""
    p = sub.add_parser(
        "camera", help="live background blur of a camera: preview window, virtual camera, recording",
        description="Blur the background of a live camera (or of a video file or stream, played in real time) and "
        "show it in a window, send it to a virtual camera for video calls (--virtual) and/or record it (--record). "
        "Preview keys: e/E next/previous effect, +/- strength, b next background picture, m mask view, "
        "t smoothing on/off, q or Esc quit. Closing the window quits too; its overlay shows fps, latency and the keys. "
        "The window needs OpenCV's GUI build (opencv-python in place of the runtime's opencv-python-headless: "
        "segblur says how to swap them when it cannot open one). "
        "Frames the model cannot keep up with are dropped, so the delay stays at one or two frames. "
        "Exit status: 0 done, 1 the source was lost mid-stream or an output failed, 2 the source or an output "
        "cannot be opened, 130 Ctrl-C, 143 SIGTERM, 129 SIGHUP (recordings are finalised in every case).")
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
                   help="with --virtual: the virtual camera device, e.g. /dev/video10 (default: the first one found)")
    g.add_argument("--record", type=Path, default=None, metavar="FILE",
                   help="also save the shown frames as a video (.mp4, .m4v, .mov, .mkv, .webm, .avi)")
    g.add_argument("--frames", type=int_in(1), default=None, metavar="N", help="stop after N frames shown")
    g.add_argument("-q", "--quiet", action="store_true", help="no progress line and no final report")
    add_effect_options(p, multi_background=True)
    add_stream_options(p, stream=True, files=False)
    g = p.add_argument_group("compute", "spend less CPU: skip the model on frames that barely moved, reuse the last "
                             "mask and background on still ones, and hold a budget (also picks the INT8 model and "
                             "one thread when they cost less here); the final report says what it did")
    g.add_argument("--governor", action="store_true", help="skip work on frames that need less (no budget)")
    g.add_argument("--max-cpu", type=_percent, default=None, metavar="PERCENT",
                   help="CPU budget in percent of one core (100 = one core), e.g. 50; implies --governor")
    g.add_argument("--target-fps", type=_rate, default=None, metavar="FPS",
                   help="frames per second the processing must keep up with; implies --governor")
    add_model_options(p)
    add_mask_options(p)
    p.set_defaults(func=run)


def check_record(record: Path | None) -> None:
    """CommandError (exit 2) when ``--record`` cannot be a video file: a folder, a path under a file, a name with no
    video suffix or one no video is written as; said before the session, not after a whole recording."""
    from ..media.video import VideoError
    from ..media.video.codecs import check_container
    from .common import CommandError, check_output_files

    if record is None:
        return
    check_output_files([record])
    try:
        check_container(record)
    except VideoError as e:
        raise CommandError(str(e)) from None


def run(args: argparse.Namespace) -> int:
    """Open the source, the pipeline and the outputs, stream until done, report; returns the exit status."""
    import sys

    from ..interrupts import interrupted_message, interrupted_status
    from ..media import camera
    from ..media.images import ImageError, read_image
    from ..progress import Progress
    from ..runtime.effects import parse_color
    from .common import CommandError, check_outputs, make_pipeline, model_file, report, stream_settings

    if args.virtual_device is not None and not args.virtual:
        raise CommandError("--virtual-device needs --virtual")
    check_record(args.record)
    effect = args.effect or ("image" if args.background else "blur")
    if effect == "image" and not args.background:
        raise CommandError("--effect image needs --background")
    try:
        backgrounds = tuple(read_image(b) for b in args.background or ())
        color = parse_color(args.color) if args.color is not None else None
    except (ImageError, ValueError) as e:
        raise CommandError(str(e)) from None
    governor = False
    if args.governor or args.max_cpu is not None or args.target_fps is not None:
        from ..runtime.governor import GovernorConfig

        # A model or thread count the user named is kept; the default model may become its INT8 twin.
        governor = GovernorConfig(max_cpu=args.max_cpu, target_fps=args.target_fps,
                                  choose_model=args.model == "default", choose_threads=args.threads is None)
    pipe = make_pipeline(args, effect=effect, strength=args.strength,
                         background=backgrounds[0] if backgrounds else None,
                         color=color if effect == "color" else None, invert=args.invert, governor=governor,
                         **stream_settings(args, stream=True))
    check_outputs([args.record], [args.source, model_file(args.model), *(args.background or ())])
    settings = camera.CameraSettings(args.source, args.size, args.fps, preview=args.preview, virtual=args.virtual,
                                     virtual_device=args.virtual_device, record=args.record)
    try:
        session = camera.open_camera(settings, notify=report)
    except (camera.SourceError, camera.SinkError) as e:
        raise CommandError(str(e)) from None
    with session:  # closed (a recording finalised) however the run ends, even before it starts streaming
        if not args.quiet:
            report(session.describe())
        progress = Progress(session.expected_frames(args.frames), "frames",
                            enabled=not args.quiet and session.window is None)

        def on_frame(st: camera.StreamStats) -> None:
            if progress.enabled:  # live per-stage and end-to-end latency, only where a progress line shows it
                progress.extra = st.stage_line()
            progress.update()

        try:
            stats = session.run(pipe, frames=args.frames,
                                controls=camera.Controls(backgrounds=backgrounds, color=color), on_frame=on_frame)
        except camera.StreamError as e:
            progress.close()
            report(str(e))
            return 1
        progress.close()
    recorder = session.recorder
    if not args.quiet:
        s = stats.summary()
        report(f"{stats.shown} frames shown of {stats.captured} captured ({stats.dropped} dropped), "
               f"{s['fps']:.1f} fps; CPU {s['cpu_percent']:.0f} % of one core on average "
               f"({s['cpu_ms_per_frame']:.1f} ms per frame shown)")
        if stats.shown:
            stages = ", ".join(f"{k} {v:.1f}" for k, v in s["stages_median_ms"].items())
            report(f"latency capture to output: median {s['latency_median_ms']:.1f} ms, "
                   f"p95 {s['latency_p95_ms']:.1f} ms; median ms per stage: {stages}")
        if pipe.governor is not None:
            report(f"governor: {pipe.governor.describe()}")
        if recorder is not None and recorder.frames:
            report(f"recorded {recorder.frames} frames to {recorder.path}")
    if stats.ended == "lost":
        report(stats.message + (f"; recording saved to {recorder.path}" if recorder is not None else ""))
        return 1
    if stats.ended == "interrupted":
        print(f"segblur: {interrupted_message()}", file=sys.stderr)
        return interrupted_status()
    return 0
