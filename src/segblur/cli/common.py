"""What the subcommands share: the one error convention, option types and groups, the pipeline the options describe,
the batch loop over planned image jobs and JSON output.

Importing this is cheap (argparse only); the runtime is imported when a pipeline is built."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..names import DEFAULT_EFFECT, DEFAULT_LOOKAHEAD, DEFAULT_MODEL, EFFECTS, SUBJECTS

if TYPE_CHECKING:
    from ..media.images import Job
    from ..runtime.pipeline import Pipeline
    from ..runtime.segmenter import Segmenter


# The most threads any --threads takes: 100000 made ONNX Runtime and torch start tens of thousands of threads (16 GB,
# a machine out of processes) or crash; no CPU this runs on has more cores than this.
MAX_THREADS = 1024
MIN_SIDE = 16  # the smallest frame side --size (camera, benchmark) takes


def int_in(lo: int, hi: int | None = None):
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"{v} is outside {lo}..{hi if hi is not None else ''}")
        return v

    return parse


def finite(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if v != v or v in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return v


def size(text: str) -> tuple[int, int]:
    """Argparse type for a frame size: ``"1280x720"`` -> (1280, 720), each side at least :data:`MIN_SIDE`, within
    the pixel limit (:func:`segblur.media.limits.max_pixels`)."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 1280x720") from None
    if w < MIN_SIDE or h < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small: each side must be at least {MIN_SIDE} pixels")
    from ..media.limits import too_many_pixels  # standard library only: cheap

    if (problem := too_many_pixels(w, h)):
        raise argparse.ArgumentTypeError(f"size {problem}")
    return w, h


def provider_list(text: str) -> list[str]:
    """Argparse type for --provider: a comma-separated list of execution provider names."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"no execution provider named in {text!r}")
    return names


def keep_list(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [k for v in values for k in v.split(",") if k]


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default="default",
                   help=f"built-in model name or .onnx file (default: {DEFAULT_MODEL}; see `segblur models`)")
    g.add_argument("--keep", action="append", metavar="CLASS[,CLASS]",
                   help="classes kept sharp / counted as foreground (default: the model's, e.g. person)")
    g.add_argument("--threads", type=int_in(1, MAX_THREADS), default=None,
                   help="ONNX Runtime threads (default: all cores)")
    add_provider_option(g)


def add_provider_option(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """The one --provider option: every command that runs an ONNX model takes the same comma-separated list."""
    p.add_argument("--provider", "--providers", action="extend", type=provider_list, dest="providers",
                   metavar="NAME[,NAME]",
                   help="ONNX Runtime execution provider(s) in order of preference: cuda, tensorrt, rocm, coreml, dml, "
                   "openvino, cpu, a full name such as CUDAExecutionProvider, or auto (the default: the best "
                   "available; CUDA needs onnxruntime-gpu). The CPU is always the fallback; -v logs the one in use")


def add_mask_options(p: argparse.ArgumentParser, description: str | None = None) -> list[argparse.Action]:
    """The "mask edge" group (``description`` under its title in --help); returns its options."""
    g = p.add_argument_group("mask edge", description)
    return [
        g.add_argument("--threshold", type=finite, default=None, help="probability at the edge (default 0.5)"),
        g.add_argument("--softness", type=finite, default=None, help="width of the soft edge, 0..1 (0 = hard)"),
        g.add_argument("--grow", type=int_in(-10000, 10000), default=0,
                       help="grow (>0) or shrink (<0) the foreground by N pixels"),
        g.add_argument("--feather", type=finite, default=0.0, help="extra Gaussian feather of the edge, in pixels"),
        g.add_argument("--no-guided", dest="guided", action="store_false",
                       help="plain bilinear mask upsampling instead of the edge-aware guided filter"),
    ]


def add_stream_options(p: argparse.ArgumentParser, *, stream: bool, files: bool,
                       description: str | None = None) -> list[argparse.Action]:
    """The "subject and smoothing" group: --subject, --follow/--no-follow and, for streams, --no-temporal and
    (for files, which may look ahead) --lookahead. ``stream``: --follow is on by default (photos: a second pass,
    off); read them back with :func:`stream_settings`. Returns the options."""
    g = p.add_argument_group("subject and smoothing", description)
    actions = [
        g.add_argument("--subject", choices=SUBJECTS, default="all",
                       help="keep all people, or only the main one: the person nearest the centre and largest (the "
                       "others get the effect, e.g. people walking behind a video call; default all)"),
        g.add_argument("--follow", action=argparse.BooleanOptionalAction, default=None,
                       help="run the model on a crop around the subject, so a small or full-body person gets more of "
                       "the model's pixels (streams: where they were in the last frame; a photo is looked at twice); "
                       f"default: {'on' if stream else 'on for videos, off for photos'}"),
    ]
    if stream or files:
        actions.append(g.add_argument("--no-temporal", dest="temporal", action="store_false",
                                      help="treat every frame on its own (default: smooth the mask across frames "
                                      "against flicker, following the motion between frames)"))
    if files:
        actions.append(g.add_argument("--lookahead", type=int_in(0, 120), default=DEFAULT_LOOKAHEAD, metavar="N",
                                      help="frames the smoothing of a file may look ahead: a two-way filter without "
                                      f"lag (0: one-way, as the camera; default {DEFAULT_LOOKAHEAD})"))
    return actions


def stream_settings(args: argparse.Namespace, *, stream: bool) -> dict:
    """``temporal`` and ``subject`` for :class:`~segblur.runtime.pipeline.Pipeline` from :func:`add_stream_options`'
    options; ``stream`` says whether the frames form a stream (video, camera) or are photos (never smoothed)."""
    from ..runtime.subject import SubjectConfig
    from ..runtime.temporal import TemporalConfig

    follow = args.follow if args.follow is not None else stream
    temporal: bool | TemporalConfig = False
    if stream and getattr(args, "temporal", True):
        temporal = TemporalConfig(lookahead=getattr(args, "lookahead", 0))
    return {"temporal": temporal, "subject": SubjectConfig(args.subject, follow=follow)}


def add_effect_options(p: argparse.ArgumentParser, multi_background: bool = False) -> argparse._ArgumentGroup:
    """The "effect" group: --effect, --strength, --background, --color, --invert (returned for more options).

    ``multi_background`` lets --background repeat (a list, switched between live); otherwise it is one picture.
    """
    g = p.add_argument_group("effect")
    g.add_argument("--effect", choices=EFFECTS, default=None,
                   help="what happens to the background (default: blur; image when --background is given)")
    g.add_argument("--strength", type=finite, default=None, help="effect strength 0..1 (default: per effect)")
    if multi_background:
        g.add_argument("--background", action="append", metavar="IMAGE", default=None,
                       help="replacement background picture; repeat to switch between several with the b key")
    else:
        g.add_argument("--background", metavar="IMAGE", default=None, help="replacement background picture")
    g.add_argument("--color", default=None, help="colour for --effect color: #RRGGBB, R,G,B or a CSS colour name "
                   "(red, navy...; green and blue are chroma-key shades)")
    g.add_argument("--invert", action="store_true", help="apply the effect to the kept classes instead")
    return g


class CommandError(Exception):
    """A problem that stops the whole command (bad model, bad option): one line, exit status ``status`` (2)."""

    def __init__(self, message: str, status: int = 2) -> None:
        super().__init__(message)
        self.status = status


def check_outputs(outputs: Iterable[str | Path | None], inputs: Iterable[str | Path | None],
                  sources: Iterable[str | Path] = ()) -> None:
    """CommandError (exit 2) when an output given is, or lies inside, one of the inputs given (model, checkpoint,
    data or calibration folder, pictures), or is one of the ``sources`` (the photos, videos and folders the command
    works through) or lies under one of them that is a file: :func:`segblur.io.check_output` on each output, before
    anything is written. None entries (options not given) are skipped."""
    from ..io import OverwriteError, check_output

    inputs = [i for i in inputs if i is not None]
    sources = list(sources)
    try:
        for out in outputs:
            if out is not None:
                check_output(out, inputs, sources)
    except OverwriteError as e:
        raise CommandError(str(e)) from None


def check_out_folder(folder: str | Path, option: str = "--out") -> None:
    """CommandError (exit 2) when ``folder`` (a run or soup folder, created if needed) or the nearest existing
    folder above it is a file: said before any work, not after an hour of training or scoring."""
    from ..io import in_the_way

    reason = in_the_way(folder, folder=True)
    if reason:
        raise CommandError(f"{reason}; choose another {option}")


def model_file(model: str | Path | None) -> Path | None:
    """The file a --model value names (a built-in name resolved), or None when there is none to protect."""
    if model is None:
        return None
    from ..runtime.model import ModelError, resolve_model_path

    try:
        return resolve_model_path(model)
    except (ModelError, OSError):
        return None


def dataset_folder(spec: str | None) -> Path | None:
    """The folder of a ``KIND:PATH`` dataset spec (what --data reads), or None."""
    if not spec or ":" not in spec:
        return None
    return Path(spec.partition(":")[2]).expanduser()


def make_pipeline(args: argparse.Namespace, segmenter: Segmenter | None = None, **kw) -> Pipeline:
    """The pipeline the model and mask options describe (``kw``: effect settings; --softness unless given)."""
    threshold = getattr(args, "threshold", None)
    if getattr(args, "softness", None) is not None:
        kw.setdefault("softness", args.softness)
    from ..media.images import ImageError
    from ..runtime.model import ModelError
    from ..runtime.pipeline import Pipeline

    try:
        return Pipeline(model=segmenter or args.model, keep=args.keep, threads=args.threads,
                        providers=args.providers, threshold=0.5 if threshold is None else threshold,
                        grow=getattr(args, "grow", 0), feather=getattr(args, "feather", 0.0),
                        guided=getattr(args, "guided", True), **kw)
    except (ModelError, ImageError, ValueError) as e:
        raise CommandError(str(e)) from None


def chosen_effect(args: argparse.Namespace) -> str:
    """The effect --effect/--background ask for (one picture: image); CommandError for a stray --background/--color."""
    effect = args.effect or ("image" if args.background else DEFAULT_EFFECT)
    if args.background and effect != "image":
        raise CommandError("--background is only used with --effect image")
    if args.color and effect != "color":
        raise CommandError("--color is only used with --effect color")
    return effect


def report(msg: str) -> None:
    """One line about one input on stderr (the command goes on with the others)."""
    print(f"segblur: {msg}", file=sys.stderr)


def run_jobs(jobs: Sequence[Job], errors: Sequence[str], work: Callable[[Job], None], *, quiet: bool,
             output: str | Path) -> int:
    """Run ``work(job)`` for each planned job (``plan_jobs``) under a progress line, reporting the planning
    ``errors`` and every job that fails, one line each, and carrying on; then a summary line unless ``quiet``.

    Returns the exit status: 1 when anything failed, else 0.
    """
    import cv2

    from ..io import one_line
    from ..media.images import ImageError
    from ..progress import Progress

    for e in errors:
        report(e)
    progress = Progress(len(jobs), "files", enabled=not quiet and len(jobs) > 1)
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
    if not quiet:
        print(f"segblur: {done} written to {output}" + (f", {failed} failed" if failed else ""), file=sys.stderr)
    return 1 if failed else 0


def check_output_files(files: Iterable[str | Path | None]) -> None:
    """CommandError (exit 2) when an output that must be a file (``--json``, ``--record``) is an existing folder or
    lies under a file: said before the work, not after a whole evaluation or recording. None and ``-`` (standard
    output) are skipped."""
    from ..io import STDOUT, in_the_way

    for f in files:
        reason = None if f is None or str(f) == STDOUT else in_the_way(f, folder=False)
        if reason:
            raise CommandError(f"{reason}; choose another output")


def table_stream(json_out: str | Path | None) -> TextIO:
    """Where a command's human-readable report goes: standard error when ``--json -`` takes standard output (so
    ``--json - | jq`` reads JSON alone), else standard output."""
    from ..io import STDOUT

    return sys.stderr if str(json_out) == STDOUT else sys.stdout


def write_json(path: str | Path, data: object) -> None:
    """Write ``data`` as indented JSON, atomically (``-``: to standard output); CommandError naming the file when it
    cannot be written."""
    import json

    from ..io import STDOUT, write_atomic

    if str(path) == STDOUT:
        print(json.dumps(data, indent=2, allow_nan=False), flush=True)
        return
    try:
        write_atomic(path, (json.dumps(data, indent=2, allow_nan=False) + "\n").encode())
    except OSError as e:
        raise CommandError(f"{path}: cannot write ({e.strerror or e})") from None
