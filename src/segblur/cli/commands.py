"""The subcommands: each parses nothing, calls the library, and reports."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from ..io import one_line, write_atomic
from ..media.images import ImageError, plan_jobs, read_image, write_image
from ..names import builtin_models
from ..progress import Progress
from ..runtime.model import ModelError, OnnxModel, model_card
from ..runtime.segmenter import Segmenter
from . import common
from .common import CommandError, chosen_effect, make_pipeline, report


def _run_jobs(args: argparse.Namespace, jobs, errors: list[str], work) -> int:
    """Run ``work(job)`` for each job with a progress line; report every failure and carry on."""
    for e in errors:
        report(e)
    progress = Progress(len(jobs), "files", enabled=not args.quiet and len(jobs) > 1)
    failed = len(errors)
    for job in jobs:
        try:
            work(job)
        except ImageError as e:
            progress.clear()
            report(str(e))
            failed += 1
        except (cv2.error, MemoryError, ValueError, OSError) as e:  # anything else one file can cause
            progress.clear()
            report(f"{job.src}: cannot process ({one_line(e)})")
            failed += 1
        progress.update()
    progress.close()
    done = len(jobs) - (failed - len(errors))
    if not args.quiet:
        print(f"segblur: {done} written to {args.output}" + (f", {failed} failed" if failed else ""),
              file=sys.stderr)
    return 1 if failed else 0


def cmd_image(args: argparse.Namespace) -> int:
    """``segblur image``: effect on every input, written to OUT."""
    effect = chosen_effect(args)
    out = Path(args.output)
    if out.is_file() and len(args.inputs) > 1:
        raise CommandError(f"{out}: is a file; several inputs need an output folder")
    pipe = make_pipeline(args, effect=effect, strength=args.strength, background=args.background, color=args.color,
                     invert=args.invert)
    jobs, errors = plan_jobs(args.inputs, args.output, protect=[args.background] if args.background else ())

    def work(job) -> None:
        write_image(job.dst, pipe.process(read_image(job.src)), quality=args.quality)

    return _run_jobs(args, jobs, errors, work)


def cmd_mask(args: argparse.Namespace) -> int:
    """``segblur mask``: one PNG mask per input in OUTDIR."""
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out}: exists and is not a folder (mask writes OUTDIR/<stem>.png)")
    if args.soft and (args.threshold is not None or args.softness is not None):
        raise CommandError("--soft writes probabilities; --threshold and --softness do not apply to it")
    try:
        seg = Segmenter(args.model, providers=args.providers, threads=args.threads, keep=args.keep)
    except ModelError as e:
        raise CommandError(str(e)) from None
    # Soft: the refined probability itself (threshold 0.5, a ramp of width 1). Hard: alpha >= 0.5.
    if args.soft:
        args.threshold, args.softness = 0.5, 1.0
    pipe = make_pipeline(args, segmenter=seg, effect="color", softness=0.5 if args.softness is None else args.softness)
    jobs, errors = plan_jobs(args.inputs, out, suffix=".png", single_file_ok=False)

    def work(job) -> None:
        alpha = pipe.mask(read_image(job.src))
        m = alpha * 255 if args.soft else (alpha >= 0.5) * 255.0
        write_image(job.dst, m.round().astype("uint8"))

    return _run_jobs(args, jobs, errors, work)


def cmd_models(args: argparse.Namespace) -> int:
    """``segblur models``: the built-in models, a summary line and the card of each."""
    names = builtin_models()
    if args.name:
        if args.name not in names and args.name != "default":
            raise CommandError(f"no built-in model {args.name!r} (built-in: {', '.join(names) or 'none'})")
        names = [args.name]
    for name in names:
        try:
            m = OnnxModel(name)
        except ModelError as e:
            report(str(e))
            continue
        i = m.info
        size_mb = m.path.stat().st_size / 1e6
        print(f"{i.name}: {i.architecture}, classes {', '.join(i.classes)}; keeps {', '.join(i.foreground)}; "
              f"input {i.input_size[1]}x{i.input_size[0]}; {size_mb:.1f} MB")
        for split, scores in (i.extra.get("metrics") or {}).items():
            if isinstance(scores, dict):
                nums = ", ".join(f"{k} {v:.3f}" for k, v in scores.items() if isinstance(v, float))
                print(f"  {split}: {nums}")
        card = model_card(m.path.stem)
        if card and not args.brief:
            print("\n" + card.strip() + "\n")
    return 0


def _benchmark_streams(args: argparse.Namespace, frame) -> dict:
    """``benchmark --stream``: threaded loop at 30 and 1000 fps, flicker off/on, 1080p file throughput."""
    from ..bench.run import make_frame
    from ..bench.stream import FAST_FPS, measure_file_throughput, measure_flicker, measure_stream

    if not args.stream_seconds > 0:
        raise CommandError(f"--stream-seconds must be positive, got {args.stream_seconds:g}")
    effect = (args.effect or ["blur"])[0]
    pipe = make_pipeline(args, effect=effect, background=frame[:, ::-1] if effect == "image" else None, temporal=True)
    runs = []
    for name, fps in (("camera 30 fps", 30.0), ("as fast as it goes", FAST_FPS)):
        runs.append({"name": name, **measure_stream(pipe, frame, fps, args.stream_seconds)})
    try:
        big = make_frame((1920, 1080), args.image)
    except (ValueError, ImageError) as e:
        raise CommandError(str(e)) from None
    if effect == "image":
        pipe.set_effect("image", background=big[:, ::-1])
    flicker = measure_flicker(pipe, frame)
    file = measure_file_throughput(pipe, big, args.file_frames) if args.file_frames else None
    return {"model": pipe.segmenter.info.name, "effect": effect, "stream": runs, "flicker": flicker, "file": file}


def cmd_benchmark(args: argparse.Namespace) -> int:
    """``segblur benchmark``: per-stage milliseconds of segblur and, optionally, the reference."""
    from ..bench.run import format_table, machine, make_frame, time_pipeline, time_reference

    try:
        size = common.size(args.size)  # the type camera's --size uses; an error here is a CommandError (exit 2)
        frame = make_frame(size, args.image)
    except (argparse.ArgumentTypeError, ValueError, ImageError) as e:
        raise CommandError(str(e)) from None
    results: dict[str, dict[str, float]] = {}
    for effect in args.effect or ["blur"]:
        pipe = make_pipeline(args, effect=effect, background=frame[:, ::-1] if effect == "image" else None)
        results[f"segblur {pipe.segmenter.info.name} {effect}"] = time_pipeline(pipe, frame, args.repeats)
    if args.reference:
        try:
            results["reference (MediaPipe selfie, LiteRT, 31x31 blur)"] = time_reference(
                args.reference, frame, args.repeats, threads=args.threads)
        except (RuntimeError, ValueError, OSError) as e:
            raise CommandError(f"{args.reference}: {e}") from None
    stream = _benchmark_streams(args, frame) if args.stream else None
    info = machine()
    print(f"{size[0]}x{size[1]} frame, median of {args.repeats} runs; {info['cpu']}, {info['cores']} cores")
    print(format_table(results))
    if args.reference:
        ref = list(results.values())[-1]["total"]
        for name, r in list(results.items())[:-1]:
            print(f"{name}: {ref / r['total']:.2f}x the reference's speed")
    if stream is not None:
        from ..bench.stream import format_stream_table

        print(f"\nstreams ({stream['model']}, {stream['effect']}, temporal smoothing on unless noted; "
              f"{size[0]}x{size[1]} source, {args.stream_seconds:g} s per run)")
        print(format_stream_table(stream))
    if args.json:
        try:
            write_atomic(args.json, json.dumps({"size": size, "repeats": args.repeats, "machine": info,
                                                "results": results, "stream": stream}, indent=2).encode())
        except OSError as e:
            raise CommandError(f"{args.json}: cannot write ({e.strerror or e})") from None
    return 0
