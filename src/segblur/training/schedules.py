"""Learning-rate schedules: ReduceLROnPlateau on the validation score (per epoch), or poly and one-cycle cosine
decay (per batch), all floored at min_lr. Their state is saved in every checkpoint, so a resumed run continues the
same curve."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection

import torch

SCHEDULES = ("plateau", "poly", "cosine")
PER_BATCH = ("poly", "cosine")
COSINE_START = 10.0  # one-cycle: the warm-up starts at lr / COSINE_START (torch's OneCycleLR div_factor)


def poly_lambda(total_steps: int, power: float = 0.9, floor: float = 0.0) -> Callable[[int], float]:
    """``(1 - step / total) ** power`` (DeepLab's poly schedule), rising to end at ``floor`` instead of 0 (a fraction
    of the peak: min_lr / lr)."""
    return lambda step: floor + (1.0 - floor) * max(0.0, 1.0 - step / max(1, total_steps)) ** power


def make_scheduler(opt: torch.optim.Optimizer, schedule: str, *, lr: float, total_steps: int, warmup: float,
                   min_lr: float, plateau_factor: float = 0.5, plateau_patience: int = 3):
    """The scheduler of ``schedule`` for ``opt``; each keeps the learning rate at or above ``min_lr``.

    ``poly`` decays from ``lr`` to ``min_lr`` over ``total_steps``.
    ``cosine`` is one-cycle (torch's OneCycleLR, as the person-fast model was trained): a cosine warm-up over the
    first ``warmup`` fraction of ``total_steps`` from lr/10 to ``lr``, then cosine decay to ``min_lr``; Adam's
    beta1 (SGD's momentum) cycles 0.95 -> 0.85 -> 0.95 against it.
    """
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=plateau_factor,
                                                          patience=plateau_patience, min_lr=min_lr)
    if schedule == "poly":
        return torch.optim.lr_scheduler.LambdaLR(opt, poly_lambda(total_steps, floor=min_lr / lr))
    if schedule == "cosine":
        total = max(1, total_steps)
        # OneCycleLR divides by zero when the warm-up is exactly one step (torch 2.13); one step of warm-up is none.
        pct = warmup * 0.999 if abs(warmup * total - 1) < 1e-9 else warmup
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=pct,
                                                   anneal_strategy="cos", div_factor=COSINE_START,
                                                   final_div_factor=lr / COSINE_START / min_lr)
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


# What a run's settings put into its optimiser's param groups and its schedule (the rest of their state is progress:
# moments, step counts, the plateau's best score). Restored from a checkpoint, these are the old run's.
SETTINGS = ("lr", "min_lr", "weight_decay", "momentum", "warmup", "plateau_factor", "plateau_patience")
_GROUP_KEYS = ("weight_decay", "initial_lr", "max_lr", "min_lr")  # OneCycleLR keeps its curve's ends per group
_SCHEDULE_KEYS = ("factor", "patience", "min_lrs", "base_lrs", "_schedule_phases")


def retune(opt: torch.optim.Optimizer, sched, fresh_groups: list[dict], fresh_state: dict,
           changed: Collection[str]) -> None:
    """Give a restored optimiser and schedule the settings of a freshly made pair while keeping their progress, so a
    resumed run's changed settings (``changed``: names in :data:`SETTINGS`) apply instead of the checkpoint's.

    ``fresh_groups`` are the fresh optimiser's param groups (without params), ``fresh_state`` its scheduler's state
    dict. The learning rate becomes what the new curve gives at the current step (poly, cosine); with plateau a new
    lr is taken as it is (the reductions so far start again from it) and a new min_lr is a floor.
    """
    cycled = isinstance(sched, torch.optim.lr_scheduler.OneCycleLR)  # it sets SGD's momentum (Adam's beta1) itself
    for group, fresh in zip(opt.param_groups, fresh_groups):
        for key in _GROUP_KEYS + (() if cycled else ("momentum",)):
            if key in fresh and key in group:
                group[key] = fresh[key]
    for key in _SCHEDULE_KEYS:
        if key in fresh_state and hasattr(sched, key):
            setattr(sched, key, fresh_state[key])
    if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        for group, fresh, floor in zip(opt.param_groups, fresh_groups, sched.min_lrs):
            group["lr"] = fresh["lr"] if "lr" in changed else max(group["lr"], floor)
    elif {"lr", "min_lr", "warmup"} & set(changed):
        with warnings.catch_warnings():  # get_lr outside step() warns: here it is the point
            warnings.simplefilter("ignore")
            lrs = sched.get_lr()  # the curve's value at the step reached (sets cosine's momentum for it too)
        for group, lr in zip(opt.param_groups, lrs):
            group["lr"] = lr
    sched._last_lr = [group["lr"] for group in opt.param_groups]


def schedule_length(state: dict) -> int | None:
    """The number of steps a saved one-cycle schedule was laid out for (None for other schedules)."""
    return state.get("total_steps")
