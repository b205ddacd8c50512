"""``segblur tune``: hyperparameter search with Optuna (needs segblur[tune])."""

from __future__ import annotations

import argparse

from ..io import one_line
from .common import CommandError, int_in
from .train import add_run_options, need_torch, run_config, training_errors

ORDER = 42


def add_parsers(sub) -> None:
    """Register tune."""
    p = sub.add_parser("tune", help="hyperparameter search with Optuna (needs segblur[tune])",
                       description="Each trial trains with sampled learning rate (around --config's lr), weight "
                       "decay, optimiser and batch size (--optimizer or --batch-size given: kept, not searched), "
                       "reports the validation score every epoch and is pruned when it lags (median pruner). RUN_DIR "
                       "gets study.db, best.json and trial-NNNN/ (one training run each). Running again with the same "
                       "RUN_DIR continues the study, with the same settings only. Several workers on several machines "
                       "share one study through --storage.")
    add_run_options(p, tune=True)
    p.add_argument("--trials", type=int_in(1), required=True, help="trials for this worker")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///RUN_DIR/study.db)")
    p.add_argument("--study", help="study name (default: RUN_DIR's name)")
    p.set_defaults(func=cmd_tune)


def cmd_tune(args: argparse.Namespace) -> int:
    """Optuna search."""
    need_torch()
    try:
        import optuna  # noqa: F401
    except ImportError:
        raise CommandError("tuning needs optuna: pip install 'segblur[tune]'") from None
    from ..training.tune import tune

    try:
        cfg = run_config(args)
        fixed = [k for k in ("optimizer", "batch_size") if getattr(args, k) is not None]  # given: kept, not searched
        result = tune(cfg, trials=args.trials, storage=args.storage, study_name=args.study, quiet=args.quiet,
                      fixed=fixed)
    except training_errors() as e:
        raise CommandError(one_line(e)) from None
    print(f"segblur: study {result['study']}: best {cfg.monitor} {result['best_value']:.4f} "
          f"with {result['best_params']} (trial {result['best_trial']}, {result['trials']} trials in the study)")
    return 0
