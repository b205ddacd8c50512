"""Hyperparameter search with Optuna: each trial is a normal training run in ``OUT/trial-NNNN``.

The sampler draws learning rate, weight decay, optimiser and batch size (only batch sizes that fit the
training split; an optimiser or batch size the user gives is kept instead); every epoch's validation
score is reported and Optuna's median pruner stops trials that lag. The study lives in an Optuna RDB
storage: a local SQLite file by default, or any URL (PostgreSQL, MySQL) so that workers on several
machines share one study (start ``segblur tune`` with the same --storage and --study on each).

Seeding: with the default local SQLite file the sampler's seed is derived from ``base.seed`` and the
number of trials already in the study, so a run is reproducible and a later run continuing the study
draws new points instead of repeating the first ones. With an explicit --storage, workers may run at
the same time and would see the same study state, so each worker seeds its sampler from
(``base.seed``, process id, time) instead: identical seeds would make them draw identical startup trials.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Collection
from pathlib import Path
from typing import Any

import optuna

from ..data import open_dataset
from ..io import write_atomic
from .config import TrainConfig, monitor_score
from .data.presets import augment_options
from .loop import Trainer

BATCH_SIZES = (4, 8, 16)


class TrialError(RuntimeError):
    """One trial could not produce a score; the study records it as failed and goes on."""


class OneLineTrialFailures(logging.Filter):
    """Optuna logs each failed trial with its traceback; segblur says what went wrong in one line, and a trial ended
    by Ctrl-C (or SIGTERM, which segblur turns into one) not at all: the run itself ends with one line saying so.

    Installed on Optuna's loggers (:meth:`install`) while a study runs, so it applies to every handler.
    """

    _TRIAL = re.compile(r"Trial (\d+) failed")

    def __init__(self) -> None:
        super().__init__()
        self.interrupted: set[str] = set()
        self.loggers: list[logging.Logger] = []

    def filter(self, record: logging.LogRecord) -> bool:
        trial = self._TRIAL.match(record.getMessage())
        if record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt):
            if trial:
                self.interrupted.add(trial.group(1))
            return False
        if trial and trial.group(1) in self.interrupted:  # "Trial N failed with value None." that follows
            return False
        record.exc_info, record.exc_text = None, None
        return True

    def install(self) -> OneLineTrialFailures:
        self.loggers = [lg for name, lg in logging.Logger.manager.loggerDict.items()
                        if isinstance(lg, logging.Logger) and (name == "optuna" or name.startswith("optuna."))]
        for lg in self.loggers:
            lg.addFilter(self)
        return self

    def remove(self) -> None:
        for lg in self.loggers:
            lg.removeFilter(self)


def batch_choices(train_samples: int) -> list[int]:
    """The batch sizes a trial may draw: those of BATCH_SIZES that fit ``train_samples`` (else the split size)."""
    fit = [b for b in BATCH_SIZES if b <= train_samples]
    return fit or [max(1, train_samples)]


SEARCHED = ("lr", "weight_decay", "optimizer", "batch_size")
# Settings that change how a run executes, not what it learns: trials that differ only in these are comparable.
EXECUTION = ("out", "device", "workers", "threads", "tensorboard", "wandb", "wandb_project", "amp", "channels_last")


def suggest(trial: optuna.Trial, base: TrainConfig, batch_sizes: list[int] | None = None,
            fixed: Collection[str] = ()) -> dict[str, Any]:
    """The searched settings for one trial (around the base config's learning rate); those in ``fixed`` (given by
    the user) are not searched and keep the base config's value."""
    low = base.lr / 10
    # Only learning rates the schedule takes: poly decays to min_lr (lr must be above it), cosine warms up from
    # lr/10 (which must stay above min_lr); one below would fail its trial's config, and with it the whole study.
    if base.schedule == "poly":
        low = max(low, base.min_lr * 1.01)
    elif base.schedule == "cosine":
        low = max(low, base.min_lr * 10.1)
    draw = {
        "lr": lambda: trial.suggest_float("lr", low, base.lr * 10, log=True),
        "weight_decay": lambda: trial.suggest_float("weight_decay", 1e-6, 1e-3, log=True),
        "optimizer": lambda: trial.suggest_categorical("optimizer", ["adam", "sgd"]),
        "batch_size": lambda: trial.suggest_categorical("batch_size", list(batch_sizes or BATCH_SIZES)),
    }
    return {name: f() for name, f in draw.items() if name not in fixed}


def study_settings(base: TrainConfig, fixed: Collection[str] = ()) -> dict[str, Any]:
    """What every trial of a study shares: the base config without the searched and the execution settings. A
    study's trials are compared (best trial, median pruner) only if these agree."""
    skip = set(EXECUTION) | (set(SEARCHED) - set(fixed))
    settings = {k: v for k, v in dataclasses.asdict(base).items() if k not in skip}
    # The same files however spelled (folder:ds, folder:./ds/, from a recipe in another folder): real paths.
    if isinstance(settings.get("data"), str) and ":" in settings["data"]:
        kind, _, path = settings["data"].partition(":")
        settings["data"] = f"{kind}:{os.path.realpath(path)}"
    for key in ("backgrounds", "pretrained", "teacher"):
        value = settings.get(key)
        if isinstance(value, str) and "://" not in value and os.path.exists(value.rpartition("=")[2]):
            head, eq, path = value.rpartition("=")
            settings[key] = f"{head}{eq}{os.path.realpath(path)}"
    return json.loads(json.dumps(settings, default=str))


def check_study_settings(study: optuna.Study, settings: dict[str, Any]) -> None:
    """Record ``settings`` on a new study; ValueError naming the differences when an existing one has others."""
    saved = study.user_attrs.get("settings")
    if saved is None:
        if not study.trials:
            study.set_user_attr("settings", settings)
        return
    changed = [f"{k} {saved.get(k)!r} -> {settings.get(k)!r}" for k in sorted(set(saved) | set(settings))
               if saved.get(k) != settings.get(k)]
    if changed:
        shown = "; ".join(changed[:4]) + (f"; and {len(changed) - 4} more" if len(changed) > 4 else "")
        raise ValueError(f"study {study.study_name} was started with other settings ({shown}): its trials could not "
                         "be compared; use another --out or --study")


def sampler_seed(base_seed: int, shared: bool, existing_trials: int) -> int:
    """The TPE sampler's seed: reproducible for a local study, distinct per worker for a shared one."""
    parts = (base_seed, os.getpid(), time.time_ns()) if shared else (base_seed, existing_trials)
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "big")


def _redact(storage: str) -> str:
    """The storage URL without its password (it is printed in messages)."""
    return re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", storage)


def _storage_errors() -> tuple[type[BaseException], ...]:
    """What opening a storage raises: SQLAlchemy (bad URL, unwritable file, refused connection), a missing driver."""
    errors: tuple[type[BaseException], ...] = (ImportError, OSError, ValueError, RuntimeError,
                                               optuna.exceptions.OptunaError)
    try:
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:
        return errors
    return (*errors, SQLAlchemyError)


def open_study(storage: str, name: str, seed: int, shared: bool) -> optuna.Study:
    """Create or load study ``name`` in ``storage``; ValueError with one line when the storage cannot be used."""
    try:
        study = optuna.create_study(study_name=name, storage=storage, direction="maximize", load_if_exists=True,
                                    pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1))
    except _storage_errors() as e:
        if isinstance(e, ImportError) and e.__cause__ is not None:
            reason = f"database driver missing: {e.__cause__}"
        else:
            text = str(e).strip()
            reason = text.splitlines()[0] if text else type(e).__name__
        raise ValueError(f"{_redact(storage)}: cannot open the study ({reason})") from None
    study.sampler = optuna.samplers.TPESampler(seed=sampler_seed(seed, shared, len(study.trials)))
    return study


def tune(base: TrainConfig, trials: int, storage: str | None = None, study_name: str | None = None,
         quiet: bool = False, fixed: Collection[str] = ()) -> dict[str, Any]:
    """Run ``trials`` trials of a (possibly shared) study; returns the study's best so far. ``fixed``: searched
    settings (:data:`SEARCHED`) the user gave, which every trial keeps instead. A study continued (the same --out or
    --study) must have the same settings but for the searched ones: ValueError before any trial otherwise."""
    dataset = open_dataset(base.data)  # a bad dataset is one error now, not one failed trial after another
    augment_options(dataset.kind, base.augment)  # so is a bad augment:
    val_split = base.val_split or dataset.default_split("val")
    n_train = len(dataset.samples(base.train_split or dataset.training_split(val_split)))
    batch_sizes = batch_choices(n_train)
    root = Path(base.out)
    root.mkdir(parents=True, exist_ok=True)
    shared = storage is not None
    storage = storage or f"sqlite:///{(root / 'study.db').resolve()}"
    name = study_name or root.resolve().name
    if quiet:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(storage, name, base.seed, shared)
    check_study_settings(study, study_settings(base, fixed))

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, base, batch_sizes, fixed)
        cfg = dataclasses.replace(base, out=str(root / f"trial-{trial.number:04d}"), tensorboard=False, **params)

        def report(epoch: int, metrics: dict) -> None:
            trial.report(monitor_score(metrics, base.monitor), epoch)  # NaN: the pruner drops it
            if trial.should_prune():
                raise optuna.TrialPruned(f"pruned after epoch {epoch + 1}")

        summary = Trainer(cfg, quiet=quiet, on_epoch=report).fit()
        if summary["best"] is None:
            raise TrialError(f"trial {trial.number}: no finite validation score")
        return float(summary["best"])

    quiet_failures = OneLineTrialFailures().install()
    try:
        study.optimize(objective, n_trials=trials, catch=(FloatingPointError, TrialError))
    finally:
        quiet_failures.remove()
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        raise RuntimeError(f"study {name}: no trial has completed")
    best = study.best_trial
    result = {"study": name, "storage": _redact(storage), "best_value": best.value, "best_params": best.params,
              "best_trial": best.number, "trials": len(study.trials),
              "pruned": sum(t.state == optuna.trial.TrialState.PRUNED for t in study.trials),
              "failed": sum(t.state == optuna.trial.TrialState.FAIL for t in study.trials)}
    write_atomic(root / "best.json", (json.dumps(result, indent=2) + "\n").encode())
    return result
