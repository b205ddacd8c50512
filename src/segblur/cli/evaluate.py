"""``segblur evaluate``: score a model (ONNX file, built-in name or training checkpoint) or a folder of
predicted masks on a dataset split."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..names import CHECKPOINT_SUFFIXES
from .common import finite, int_in

ORDER = 45


def add_parsers(sub) -> None:
    """Add the ``evaluate`` subcommand."""
    p = sub.add_parser(
        "evaluate", help="score a model or predicted masks on a dataset (IoU, accuracy, boundary F1)",
        description="Score MODEL (a built-in name, an .onnx file or a training checkpoint .pt) or a folder of "
        "predicted masks <id>.png (class ids; 0/255 for two-class sets) on a dataset split. Prints per-class "
        "IoU, accuracy and boundary F1 and the mean scores. Images that fail are reported and counted; "
        "the exit status is then 1.")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="built-in model name, .onnx file or training checkpoint (.pt)")
    what.add_argument("--predictions", type=Path, metavar="DIR", help="folder of predicted masks <id>.png")
    p.add_argument("--data", required=True, metavar="KIND:PATH", help="dataset: voc:PATH, lfw:PATH or folder:PATH")
    p.add_argument("--split", default=None, metavar="NAME", help="split to score (default: the dataset's test split)")
    p.add_argument("--json", type=Path, default=None, metavar="FILE", help="also write the full report as JSON")
    p.add_argument("--predictions-out", type=Path, default=None, metavar="DIR",
                   help="with --model: also write each prediction to DIR/<id>.png")
    p.add_argument("--tolerance-px", type=finite, default=None, metavar="PX",
                   help="boundary F1 match distance in pixels (default: 0.75%% of the image diagonal, >= 1 px)")
    p.add_argument("--threads", type=int_in(1), default=None, help="inference threads (default: all cores)")
    p.add_argument("--provider", action="append", dest="providers", metavar="NAME",
                   help="ONNX Runtime execution provider (default: best available)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    p.set_defaults(func=run)


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


def run(args: argparse.Namespace) -> int:
    """Run the evaluation, print the table, write --json; 1 when some images failed."""
    from ..data import DatasetError, open_dataset
    from ..eval.evaluation import EvaluationError, evaluate_predictions, evaluate_segmenter
    from ..eval.metrics import format_table
    from .common import CommandError, check_outputs, dataset_folder, model_file, report, write_json

    if args.predictions_out is not None and args.predictions is not None:
        raise CommandError("--predictions-out is only used with --model")
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
    print(format_table(result))
    if args.json is not None:
        write_json(args.json, result)
    return 1 if result["failed"] else 0
