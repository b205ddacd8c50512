"""``segblur soup``: average checkpoints of one network into one (greedy on the recipe's validation split)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .common import MAX_THREADS, CommandError, check_out_folder, check_outputs, dataset_folder, int_in

ORDER = 43


def add_parsers(sub) -> None:
    """Register soup."""
    p = sub.add_parser("soup", help="average trained checkpoints of one network into a better one (model soup)",
                       description="Average the weights of checkpoints fine-tuned from the same start (a 'model "
                       "soup'). Greedy by default: sorted by their own validation score, each is added only if "
                       "the average's score does not drop. Scores are the recipe's monitor on its validation "
                       "split, as segblur train computes it. Writes OUT/best.pt (for segblur export, "
                       "--pretrained, evaluate) and OUT/soup.json.")
    p.add_argument("checkpoints", nargs="+", type=Path, metavar="CHECKPOINT",
                   help="training checkpoints (.pt) of the recipe's network")
    p.add_argument("--config", type=Path, required=True, metavar="RECIPE.yaml",
                   help="the recipe the checkpoints were trained with: data, validation split, network, monitor")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for best.pt and soup.json")
    p.add_argument("--uniform", action="store_true", help="average all of them (no greedy choice)")
    p.add_argument("--threads", type=int_in(1, MAX_THREADS), metavar="N", help="torch threads (default: all cores)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=cmd_soup)


def cmd_soup(args: argparse.Namespace) -> int:
    """Average checkpoints; report the soup's validation score."""
    from .train import need_torch, training_errors

    need_torch()
    from ..io import one_line
    from ..training.config import layered_config
    from ..training.soup import check_distinct, make_soup

    check_out_folder(args.out)
    check_outputs([args.out], [args.config, *args.checkpoints])
    try:
        check_distinct(args.checkpoints)  # before the recipe is read: make_soup checks it too, for library callers
    except ValueError as e:
        raise CommandError(str(e)) from None
    if (args.out / "best.pt").exists():
        raise CommandError(f"{args.out}: holds a best.pt already; choose another --out")
    try:
        cfg, _ = layered_config({"out": str(args.out), "threads": args.threads}, recipe=args.config)
    except training_errors() as e:
        raise CommandError(one_line(e)) from None
    check_outputs([args.out], [dataset_folder(cfg.data) if isinstance(cfg.data, str) else None])  # as train does
    try:
        summary = make_soup(cfg, args.checkpoints, greedy=not args.uniform, quiet=args.quiet)
    except training_errors() as e:
        raise CommandError(one_line(e)) from None
    n = len(summary["checkpoints"])
    print(f"segblur: soup of {n} checkpoint{'s' if n != 1 else ''}: val {summary['monitor']} {summary['best']:.4f} "
          f"-> {args.out / 'best.pt'}")
    return 0
