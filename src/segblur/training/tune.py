"""Hyperparameter search with Optuna: each trial is a normal training run in ``OUT/trial-NNNN``.

The sampler draws learning rate, weight decay, optimiser and batch size; every epoch's
validation score is reported and Optuna's median pruner stops trials that lag. The study lives
in an Optuna RDB storage: a local SQLite file by default, or any URL (PostgreSQL, MySQL) so that
workers on several machines share one study (start ``segblur tune`` with the same --storage and
--study on each).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import optuna

from ..media.images import write_atomic
from .loop import TrainConfig, Trainer

BATCH_SIZES = (4, 8, 16)


def suggest(trial: optuna.Trial, base: TrainConfig) -> dict[str, Any]:
    """The searched settings for one trial (around the base config's learning rate)."""
    return {
        "lr": trial.suggest_float("lr", base.lr / 10, base.lr * 10, log=True),
        "weight_decay": trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        "optimizer": trial.suggest_categorical("optimizer", ["adam", "sgd"]),
        "batch_size": trial.suggest_categorical("batch_size", list(BATCH_SIZES)),
    }


def tune(base: TrainConfig, trials: int, storage: str | None = None, study_name: str | None = None,
         quiet: bool = False) -> dict[str, Any]:
    """Run ``trials`` trials of a (possibly shared) study; returns the study's best so far."""
    root = Path(base.out)
    root.mkdir(parents=True, exist_ok=True)
    storage = storage or f"sqlite:///{(root / 'study.db').resolve()}"
    name = study_name or root.resolve().name
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=base.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    if quiet:
        optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, base)
        cfg = dataclasses.replace(base, out=str(root / f"trial-{trial.number:04d}"), tensorboard=False, **params)

        def report(epoch: int, metrics: dict) -> None:
            trial.report(float(metrics[base.monitor]), epoch)
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}")

        summary = Trainer(cfg, quiet=quiet, on_epoch=report).fit()
        if summary["best"] is None:
            raise ValueError("the trial produced no finite validation score")
        return float(summary["best"])

    study.optimize(objective, n_trials=trials, catch=(FloatingPointError,))
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise RuntimeError(f"study {name}: no trial has completed")
    best = study.best_trial
    result = {"study": name, "storage": storage, "best_value": best.value, "best_params": best.params,
              "best_trial": best.number, "trials": len(study.trials),
              "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)}
    write_atomic(root / "best.json", (json.dumps(result, indent=2) + "\n").encode())
    return result
