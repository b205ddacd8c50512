"""``segblur evaluate``: score a model (ONNX file, built-in name or training checkpoint) or a folder of
predicted masks on a dataset split; or, with --sequence, a model on a video with per-frame true masks, frames in
order through the pipeline of ``segblur video`` (accuracy and stability)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..names import CHECKPOINT_SUFFIXES
from .common import MAX_THREADS, add_mask_options, add_provider_option, add_stream_options, finite, int_in, table_stream

ORDER = 45


def add_parsers(sub) -> None:
    """Add the ``evaluate`` subcommand."""
    p = sub.add_parser(
        "evaluate", help="score a model or predicted masks on a dataset (IoU, accuracy, boundary F1)",
        description="Score MODEL (a built-in name, an .onnx file or a training checkpoint .pt) or a folder of "
        "predicted masks <id>.png (class ids; 0/255 for two-class sets) on a dataset split. Prints per-class "
        "IoU, accuracy and boundary F1 and the mean scores. Images that fail are reported and counted; "
        "the exit status is then 1. With --sequence instead of --data: run a video's frames in order through the "
        "pipeline of `segblur video` (same smoothing, same subject options) and score every frame against its "
        "true mask: person IoU and boundary F1 per frame, the temporal error (how much the change of the mask "
        "from frame to frame differs from the true mask's change, 1/255) and the flicker of the first frame "
        "held still with noise.")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--model", help="built-in model name, .onnx file or training checkpoint (.pt) to score on "
                      "--data (this or --predictions is needed); with --sequence a built-in name or .onnx file "
                      "(default there: the default model)")
    what.add_argument("--predictions", type=Path, metavar="DIR", help="folder of predicted masks <id>.png")
    # Every kind of segblur.data.DATASET_KINDS (importing it here would load OpenCV for every --help; a test keeps
    # this list whole).
    p.add_argument("--data", metavar="KIND:PATH", help="dataset: voc:PATH, lfw:PATH, folder:PATH, person:DIR (the "
                   "default person mix of the sets in DIR) or person:MIX.yaml")
    p.add_argument("--split", default=None, metavar="NAME",
                   help="with --data: the split to score (default: the dataset's test split)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE",
                   help="also write the full report as JSON (-: to standard output, the table then to standard error)")
    p.add_argument("--predictions-out", type=Path, default=None, metavar="DIR",
                   help="with --model: also write each prediction to DIR/<id>.png")
    p.add_argument("--tolerance-px", type=finite, default=None, metavar="PX",
                   help="boundary F1 match distance in pixels (default: 0.75%% of the image diagonal, >= 1 px)")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), default=None,
                   help="inference threads (default: all cores)")
    add_provider_option(p)
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    g = p.add_argument_group("sequence", "a video with a true mask for every frame (instead of --data); the options "
                             "of this group and the mask edge and subject and smoothing options are only used with "
                             "--sequence")
    g.add_argument("--sequence", type=Path, metavar="PATH",
                   help="a folder with images/ and masks/ (the same names, frames in name order), or a video file "
                   "with --masks")
    pipeline = "with --sequence: the pipeline's settings, as for `segblur video`"
    sequence_only = [
        g.add_argument("--masks", type=Path, metavar="DIR", help="the video's true masks, one per frame in name order"),
        g.add_argument("--region", choices=("frame", "subject"), default="frame",
                       help="score whole frames, or a box around the true mask grown by 10%% (for masks that label "
                       "one person among several; default frame)"),
        *add_mask_options(p, pipeline),
        *add_stream_options(p, stream=True, files=True, description=pipeline),
    ]
    # Their parser defaults are SUPPRESS, so an option given is told exactly from one left out (--grow 0 too): they
    # are refused without --sequence, and _sequence puts the real defaults back.
    defaults = {}
    for action in sequence_only:
        defaults[action.dest], action.default = action.default, argparse.SUPPRESS
    options = {a.dest: "/".join(a.option_strings) for a in sequence_only}  # --masks, --follow/--no-follow, ...
    p.set_defaults(func=run, sequence_defaults=defaults, sequence_options=options)


def _load_model(args: argparse.Namespace):
    """(predict_classes, class names, name) for --model; CommandError with one line when it cannot be used."""
    from ..runtime.model import ModelError
    from ..runtime.segmenter import Segmenter
    from .common import CommandError

    path = Path(args.model)
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        try:
            from ..training.predict import CheckpointError, CheckpointPredictor
        except ImportError as e:
            raise CommandError(f"{path}: evaluating a checkpoint needs the train extra "
                               f"(pip install 'segblur[train]'; {e})") from None
        try:
            ck = CheckpointPredictor(path, threads=args.threads)
        except CheckpointError as e:
            raise CommandError(str(e)) from None
        return ck.predict_classes, list(ck.classes), str(path)
    try:
        seg = Segmenter(args.model, providers=args.providers, threads=args.threads)
    except ModelError as e:
        raise CommandError(str(e)) from None
    name = seg.info.name if str(args.model) == seg.info.name else f"{args.model} ({seg.info.name})"
    return seg.predict_classes, list(seg.classes), name


def _check_checkpoint_providers(args: argparse.Namespace) -> None:
    """CommandError for --provider other than auto or cpu with a checkpoint: torch runs it on the CPU, and an
    accelerator asked for and silently not used would make the timing and the scores misleading."""
    from ..runtime.model import provider_name
    from .common import CommandError

    if args.model is None or Path(args.model).suffix.lower() not in CHECKPOINT_SUFFIXES:
        return
    other = [p for p in args.providers or [] if p.strip().lower() != "auto"
             and provider_name(p) != "CPUExecutionProvider"]
    if other:
        raise CommandError(f"--provider {other[0]}: a checkpoint ({args.model}) is run by torch on the CPU; export "
                           "it to .onnx (segblur export) to use an execution provider")


def run(args: argparse.Namespace) -> int:
    """Run the evaluation, print the table, write --json; 1 when some images failed."""
    from ..data import DatasetError, open_dataset
    from ..eval.evaluation import EvaluationError, evaluate_predictions, evaluate_segmenter
    from ..eval.metrics import format_table
    from .common import CommandError, check_output_files, check_outputs, dataset_folder, model_file, report, write_json

    if args.sequence is not None:
        return _sequence(args)
    given = [option for dest, option in args.sequence_options.items() if hasattr(args, dest)]
    if given:
        raise CommandError(f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} only used with --sequence")
    if args.data is None or (args.model is None and args.predictions is None):
        raise CommandError("give --data with --model or --predictions, or --sequence")
    if args.predictions_out is not None and args.predictions is not None:
        raise CommandError("--predictions-out is only used with --model")
    _check_checkpoint_providers(args)
    check_output_files([args.json])
    check_outputs([args.json, args.predictions_out], [model_file(args.model), dataset_folder(args.data),
                                                      args.predictions])
    if args.tolerance_px is not None and args.tolerance_px < 0:
        raise CommandError("--tolerance-px must not be negative")
    options = {"on_error": report, "show_progress": not args.quiet, "tolerance_px": args.tolerance_px}
    try:
        dataset = open_dataset(args.data)
        split = args.split or dataset.default_split("test")
        if args.predictions is not None:
            result = evaluate_predictions(args.predictions, dataset, split, **options)
        else:
            predict, classes, name = _load_model(args)
            result = evaluate_segmenter(predict, dataset, split, model_classes=classes, model_name=name,
                                        predictions_out=args.predictions_out, **options)
    except (DatasetError, EvaluationError) as e:
        raise CommandError(str(e)) from None
    for note in getattr(dataset, "notes", []):  # a split derived from the folder (held out, or the unlisted images)
        report(f"note: {note}")
    print(format_table(result), file=table_stream(args.json))
    if args.json is not None:
        write_json(args.json, result)
    return 1 if result["failed"] else 0


def _sequence(args: argparse.Namespace) -> int:
    """--sequence: the pipeline of ``segblur video`` on the frames in order, scored against their true masks."""
    from ..eval.sequence import SequenceError, evaluate_sequence, format_sequence, open_sequence
    from .common import (
        CommandError,
        check_output_files,
        check_outputs,
        make_pipeline,
        model_file,
        stream_settings,
        write_json,
    )

    for dest, value in args.sequence_defaults.items():  # the options left out (SUPPRESS): their defaults
        if not hasattr(args, dest):
            setattr(args, dest, value)
    if args.data is not None or args.predictions is not None or args.predictions_out is not None:
        raise CommandError("--sequence scores a model: no --data, --predictions or --predictions-out")
    if args.split is not None:
        raise CommandError("--split is only used with --data (a sequence is scored whole)")
    if args.model is not None and Path(args.model).suffix.lower() in CHECKPOINT_SUFFIXES:
        raise CommandError(f"{args.model}: --sequence runs the pipeline: export the checkpoint to .onnx first")
    check_output_files([args.json])
    # The report must not replace the model, the video, a frame or a true mask; beside images/ and masks/ in a
    # sequence folder (seq/report.json) it harms nothing.
    parts = [args.sequence / "images", args.sequence / "masks"] if args.sequence.is_dir() else []
    check_outputs([args.json], [model_file(args.model or "default"), args.masks, *parts], sources=[args.sequence])
    settings = stream_settings(args, stream=True)
    options = argparse.Namespace(**{**vars(args), "model": args.model or "default", "keep": None})
    pipe = make_pipeline(options, effect="color", **settings)
    try:
        report = evaluate_sequence(pipe, open_sequence(args.sequence, args.masks), args.region,
                                   tolerance_px=args.tolerance_px, show_progress=not args.quiet)
    except SequenceError as e:
        raise CommandError(str(e)) from None
    temporal = settings["temporal"]
    report = {"model": pipe.segmenter.info.name,
              "settings": {"temporal": "off" if not temporal else f"lookahead {temporal.lookahead}",
                           "subject": args.subject, "follow": settings["subject"].follow},
              **report}
    print(format_sequence(report), file=table_stream(args.json))
    if args.json is not None:
        write_json(args.json, report)
    return 0
