"""``segblur train``, ``segblur export`` and ``segblur tune``: the training wing's doors (need segblur[train])."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io import one_line
from ..names import ARCHITECTURES
from .common import CommandError, finite, int_in, keep_list

ORDER = 40


def _kv(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` for --arch-option; VALUE is parsed as YAML (numbers, booleans, lists)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    key, value = text.split("=", 1)
    try:
        import yaml
    except ImportError:
        raise argparse.ArgumentTypeError("--arch-option needs pyyaml: pip install 'segblur[train]'") from None

    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        return key.strip(), value


def _add_run_options(p: argparse.ArgumentParser, tune: bool = False) -> None:
    """Options shared by train and tune (defaults None: a --config file or TrainConfig fills them)."""
    p.add_argument("--data", metavar="KIND:PATH", help="dataset: voc:PATH, lfw:PATH or folder:PATH")
    p.add_argument("--arch", metavar="NAME", help=f"architecture: {', '.join(ARCHITECTURES)}")
    p.add_argument("--arch-option", dest="arch_options", action="append", type=_kv, metavar="KEY=VALUE",
                   help="architecture option, e.g. width=16 or output_stride=8 (repeatable)")
    p.add_argument("--out", metavar="RUN_DIR", help="run folder: last.pt, best.pt, metrics.json, log.csv, tensorboard/")
    p.add_argument("--config", type=Path, metavar="FILE.yaml", help="YAML file of settings (options override it)")
    p.add_argument("--epochs", type=int_in(1), help="epochs (default 50)")
    p.add_argument("--batch-size", type=int_in(1), help="images per step per process (default 8)")
    p.add_argument("--image-size", type=int_in(32), help="square training size S (default 256)")
    if not tune:
        p.add_argument("--lr", type=finite, help="learning rate (default 1e-3)")
        p.add_argument("--weight-decay", type=finite, help="weight decay (default 1e-4)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], help="adam (default, with plateau schedule) or sgd")
    p.add_argument("--schedule", choices=["plateau", "poly"],
                   help="ReduceLROnPlateau on the validation score (default) or poly decay per step")
    p.add_argument("--early-stop", type=int_in(0), help="stop after N epochs without a better score (0 = off; "
                   "default 10)")
    p.add_argument("--seed", type=int_in(0), help="random seed (default 0)")
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument("--workers", type=int_in(0), help="data-loading processes (default 0)")
    p.add_argument("--threads", type=int_in(1), help="torch CPU threads (default: torch's)")
    p.add_argument("--pretrained", metavar="URL|PATH", help="initial weights (torchvision-compatible state dict)")
    p.add_argument("--backgrounds", metavar="DIR", help="people-free photos to paste binary cut-outs onto")
    p.add_argument("--train-split", help="split to train on (default: the dataset's train split)")
    p.add_argument("--val-split", help="split to validate on (default: the dataset's val split)")
    p.add_argument("--monitor", choices=["mean_iou", "pixel_accuracy", "frequency_weighted_iou"],
                   help="validation score for best.pt, the schedule and early stopping (default mean_iou)")
    p.add_argument("--steps-per-epoch", type=int_in(1), help="cap on steps per epoch (quick runs)")
    p.add_argument("--val-limit", type=int_in(1), help="validate on the first N images only (quick runs)")
    p.add_argument("--no-amp", dest="amp", action="store_const", const=False, help="no mixed precision on CUDA")
    p.add_argument("--no-tensorboard", dest="tensorboard", action="store_const", const=False,
                   help="no TensorBoard logs (the CSV log is always written)")
    p.add_argument("--wandb", action="store_const", const=True, help="also log to Weights & Biases "
                   "(WANDB_MODE=offline works without a network)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def add_parsers(sub) -> None:
    """Register train, export and tune."""
    p = sub.add_parser("train", help="train a segmentation model (needs segblur[train])",
                       description="Train an architecture on a dataset. RUN_DIR gets last.pt (every epoch), best.pt "
                       "(best validation score), metrics.json, log.csv, predictions.jpg (image | truth | prediction) "
                       "and TensorBoard logs. Several GPUs or machines: "
                       "torchrun --nproc_per_node N -m segblur train ...",
                       epilog=f"architectures: {', '.join(ARCHITECTURES)}")
    _add_run_options(p)
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR/last.pt exactly where it stopped")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("export", help="export a training checkpoint to an ONNX model for the runtime",
                       description="Write MODEL.onnx with softmax in the graph and the segblur metadata; "
                       "ONNX Runtime's output is checked against torch's "
                       "before writing. --int8 adds static INT8 quantisation "
                       "calibrated on the images in --calibration.")
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT",
                   help="training checkpoint (.pt); or an exported .onnx model to quantise with --int8")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="MODEL.onnx")
    p.add_argument("--name", help="model name in the metadata (default: the output's stem)")
    p.add_argument("--foreground", action="append", metavar="CLASS[,CLASS]",
                   help="default kept classes (default: the dataset's, e.g. person)")
    p.add_argument("--data-note", dest="data_note", help="one-line description of the training data")
    p.add_argument("--metrics", type=Path, metavar="JSON", help="test-split metrics to store in the metadata "
                   "(e.g. from segblur evaluate --json)")
    p.add_argument("--int8", action="store_true", help="quantise to INT8 (needs --calibration)")
    p.add_argument("--calibration", type=Path, metavar="DIR", help="images for INT8 calibration")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("tune", help="hyperparameter search with Optuna (needs segblur[tune])",
                       description="Each trial trains with sampled learning rate, weight decay, optimiser and batch "
                       "size, reports the validation score every epoch and is pruned when it lags (median pruner). "
                       "Several workers on several machines share one study through --storage.")
    _add_run_options(p, tune=True)
    p.add_argument("--trials", type=int_in(1), required=True, help="trials for this worker")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///RUN_DIR/study.db)")
    p.add_argument("--study", help="study name (default: RUN_DIR's name)")
    p.set_defaults(func=cmd_tune)


def _config(args: argparse.Namespace):
    """TrainConfig from the resumed run's checkpoint, then --config YAML, then the options given."""
    from ..training.loop import EXACTNESS_FIELDS, TrainConfig, saved_config

    values: dict = {}
    saved: dict = {}
    if getattr(args, "resume", False):
        if not args.out:
            raise ValueError("--resume needs --out RUN_DIR")
        saved = saved_config(args.out)
        values.update(saved)
    if args.config is not None:
        import yaml

        try:
            loaded = yaml.safe_load(args.config.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ValueError(f"{args.config}: cannot read the config ({str(e).splitlines()[0]})") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"{args.config}: expected a mapping of settings")
        unknown = sorted(set(loaded) - set(TrainConfig.fields()))
        if unknown:
            raise ValueError(f"{args.config}: unknown settings {unknown}; known: {', '.join(TrainConfig.fields())}")
        values.update(loaded)
    for name in TrainConfig.fields():
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
    if getattr(args, "arch_options", None):
        values["arch_kwargs"] = {**values.get("arch_kwargs", {}), **dict(args.arch_options)}
    for key, flag in (("data", "--data"), ("arch", "--arch"), ("out", "--out")):
        if not values.get(key):
            raise ValueError(f"{flag} is required (on the command line or in --config)")
    values["out"] = str(values["out"])
    cfg = TrainConfig(**values)
    cfg.validate()
    changed = [f"{k} {saved[k]!r} -> {getattr(cfg, k)!r}" for k in EXACTNESS_FIELDS
               if k in saved and saved[k] != getattr(cfg, k)]
    if changed and _is_main_rank():
        print(f"segblur: note: resuming with changed settings ({'; '.join(changed)}): the continuation is no "
              f"longer identical to an uninterrupted run", file=sys.stderr)
    return cfg


def _is_main_rank() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _training_errors() -> tuple[type[BaseException], ...]:
    from ..data import DatasetError

    return (DatasetError, ValueError, FileNotFoundError, FileExistsError, FloatingPointError, RuntimeError, OSError)


def _need_torch() -> str | None:
    try:
        import torch  # noqa: F401
    except ImportError:
        return "training needs torch: pip install 'segblur[train]'"
    return None


def cmd_train(args: argparse.Namespace) -> int:
    """Train one model."""
    if (msg := _need_torch()) is not None:
        raise CommandError(msg)
    from ..training.loop import Trainer
    from ..training.models import list_models

    try:
        cfg = _config(args)
        if cfg.arch not in list_models():
            raise CommandError(f"unknown architecture {cfg.arch!r}; choose from {', '.join(list_models())}")
        summary = Trainer(cfg, resume=args.resume, quiet=args.quiet).fit()
    except _training_errors() as e:
        raise CommandError(one_line(e)) from None
    if not args.quiet and summary.get("best") is not None and _is_main_rank():
        print(f"segblur: best val {summary['monitor']} {summary['best']:.4f}; checkpoints in {cfg.out}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Checkpoint -> ONNX (optionally INT8); an .onnx input is quantised (no torch needed)."""
    if args.checkpoint.suffix.lower() == ".onnx" and args.checkpoint.is_file():
        if not args.int8:
            raise CommandError(f"{args.checkpoint}: already an ONNX model; pass --int8 --calibration DIR to "
                               "quantise it")
        if args.calibration is None:
            raise CommandError("--int8 needs --calibration DIR (a few hundred typical images)")
        return _quantize_onnx(args)
    if (msg := _need_torch()) is not None:
        raise CommandError(msg)
    import json

    from ..training.export import export_checkpoint, metrics_summary

    if args.int8 and args.calibration is None:
        raise CommandError("--int8 needs --calibration DIR (a few hundred typical images)")
    if not args.checkpoint.is_file():
        raise CommandError(f"{args.checkpoint}: no such checkpoint")

    fg = keep_list(args.foreground)
    metrics = None
    if args.metrics is not None:
        try:
            metrics = metrics_summary(json.loads(args.metrics.read_text()))
        except (OSError, ValueError) as e:
            raise CommandError(f"{args.metrics}: cannot use these metrics ({one_line(e)})") from None
    try:
        target = args.output
        if args.int8:
            target = args.output.with_name(f".{args.output.stem}.fp32.onnx")
        export_checkpoint(args.checkpoint, target, name=args.name or args.output.stem, foreground=fg,
                          data=args.data_note, metrics=metrics)
        if args.int8:
            from ..quantize import quantize_int8

            try:
                quantize_int8(target, args.output, args.calibration)
            finally:
                target.unlink(missing_ok=True)
    except (KeyError, EOFError) as e:
        raise CommandError(f"{args.checkpoint}: not a segblur training checkpoint (missing {e})") from None
    except (ValueError, OSError, RuntimeError) as e:
        raise CommandError(one_line(e)) from None
    except Exception as e:  # torch.load raises UnpicklingError and friends on a file that is not a checkpoint
        if type(e).__module__.startswith(("pickle", "_pickle", "zipfile", "torch")):
            raise CommandError(f"{args.checkpoint}: not a readable checkpoint ({type(e).__name__})") from None
        raise
    print(f"segblur: wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)"
          + (" INT8" if args.int8 else ""))
    return 0


def _quantize_onnx(args: argparse.Namespace) -> int:
    """``segblur export MODEL.onnx -o OUT.onnx --int8 --calibration DIR``: quantise an exported model."""
    import json

    from ..quantize import quantize_int8
    from ..training.export import metrics_summary

    try:
        metrics = metrics_summary(json.loads(args.metrics.read_text())) if args.metrics else None
    except (OSError, ValueError) as e:
        raise CommandError(f"{args.metrics}: cannot use these metrics ({one_line(e)})") from None
    try:
        quantize_int8(args.checkpoint, args.output, args.calibration, name=args.name, metrics=metrics)
    except (ValueError, OSError, RuntimeError) as e:
        raise CommandError(one_line(e)) from None
    print(f"segblur: wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB) INT8")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    """Optuna search."""
    if (msg := _need_torch()) is not None:
        raise CommandError(msg)
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise CommandError("tuning needs optuna: pip install 'segblur[tune]'") from None
    from ..training.tune import tune

    try:
        cfg = _config(args)
        result = tune(cfg, trials=args.trials, storage=args.storage, study_name=args.study, quiet=args.quiet)
    except _training_errors() as e:
        raise CommandError(one_line(e)) from None
    print(f"segblur: study {result['study']}: best {cfg.monitor} {result['best_value']:.4f} "
          f"with {result['best_params']} (trial {result['best_trial']}, {result['trials']} trials in the study)")
    return 0
