"""An exponential moving average of the weights (and batch-norm statistics) over the training steps.

Validation, ``best.pt`` and export use the average; training keeps updating the raw weights. On person-lite's
short CPU cycles the validation score of the raw weights swung by up to a point between neighbouring epochs at the
end of a cosine schedule (batch 16 makes the batch-norm running statistics noisy), so picking the best epoch was
partly picking noise. The average is what torchvision's references (``--model-ema``) and timm (``ModelEmaV3``) keep.
"""

from __future__ import annotations

import copy

import torch
import torch.nn as nn


class WeightAverage:
    """``module`` holds the average of the model's floating-point tensors (parameters and buffers); integer buffers
    (batch-norm counters) are copied. The decay ramps up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates,
    so an average started from random or freshly loaded weights follows them at first instead of lagging."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"weight average decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def current_decay(self) -> float:
        """The decay the next update uses."""
        return min(self.decay, (1 + self.updates) / (10 + self.updates))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the average toward ``model``'s tensors (same architecture, same state-dict order)."""
        weight = 1.0 - self.current_decay()
        mine, theirs = self.module.state_dict(), model.state_dict()
        floats = [k for k, v in mine.items() if v.is_floating_point()]
        torch._foreach_lerp_([mine[k] for k in floats], [theirs[k].detach() for k in floats], weight)
        for k, v in mine.items():
            if not v.is_floating_point():
                v.copy_(theirs[k])
        self.updates += 1

    def state_dict(self) -> dict:
        """The averaged weights (the model's state-dict keys)."""
        return self.module.state_dict()

    def load_state_dict(self, state: dict, updates: int) -> None:
        """Restore an average saved by :meth:`state_dict` after ``updates`` updates (an exact resume)."""
        self.module.load_state_dict(state)
        self.updates = int(updates)
