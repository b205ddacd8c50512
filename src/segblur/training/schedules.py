"""Learning-rate schedules: ReduceLROnPlateau on the validation score (per epoch), or poly and one-cycle cosine
decay (per batch). Their state is saved in every checkpoint, so a resumed run continues the same curve."""

from __future__ import annotations

from collections.abc import Callable

import torch

SCHEDULES = ("plateau", "poly", "cosine")
PER_BATCH = ("poly", "cosine")
COSINE_START = 10.0  # one-cycle: the warm-up starts at lr / COSINE_START (torch's OneCycleLR div_factor)


def poly_lambda(total_steps: int, power: float = 0.9) -> Callable[[int], float]:
    """``(1 - step / total) ** power`` (DeepLab's poly schedule)."""
    return lambda step: max(0.0, 1.0 - step / max(1, total_steps)) ** power


def make_scheduler(opt: torch.optim.Optimizer, schedule: str, *, lr: float, total_steps: int, warmup: float,
                   min_lr: float, plateau_factor: float = 0.5, plateau_patience: int = 3):
    """The scheduler of ``schedule`` for ``opt``.

    ``cosine`` is one-cycle (torch's OneCycleLR, as the person-fast model was trained): a cosine warm-up over the
    first ``warmup`` fraction of ``total_steps`` from lr/10 to ``lr``, then cosine decay to ``min_lr``; Adam's
    beta1 (SGD's momentum) cycles 0.95 -> 0.85 -> 0.95 against it.
    """
    if schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="max", factor=plateau_factor,
                                                          patience=plateau_patience, min_lr=min_lr)
    if schedule == "poly":
        return torch.optim.lr_scheduler.LambdaLR(opt, poly_lambda(total_steps))
    if schedule == "cosine":
        total = max(1, total_steps)
        # OneCycleLR divides by zero when the warm-up is exactly one step (torch 2.13); one step of warm-up is none.
        pct = warmup * 0.999 if abs(warmup * total - 1) < 1e-9 else warmup
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total, pct_start=pct,
                                                   anneal_strategy="cos", div_factor=COSINE_START,
                                                   final_div_factor=lr / COSINE_START / min_lr)
    raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")


def schedule_length(state: dict) -> int | None:
    """The number of steps a saved one-cycle schedule was laid out for (None for other schedules)."""
    return state.get("total_steps")
