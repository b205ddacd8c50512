"""Distillation: a teacher's person probabilities on each training view as a second, soft target.

Teacher labels (``segblur label``) are hard and leave uncertain pixels out (255); the teacher's probability
itself says how sure it is everywhere, outline and uncertain pixels included. On every augmented batch the
teacher (:mod:`.teachers`: MediaPipe selfie or pose through LiteRT, or a segblur ONNX model) sees the same views
as the student, so crops, flips, pastes and colour jitter stay consistent with no stored maps, and ``--resume``
stays exact (the teacher is deterministic). The student's loss becomes cross-entropy against the labels plus
``teacher_weight`` x the per-pixel KL divergence from the teacher's (background, person) distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .teachers import Teacher, open_teacher, run_region


def to_rgb8(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> np.ndarray:
    """A normalised N x 3 x H x W batch back to the N x H x W x 3 uint8 RGB views it was made from."""
    m = np.asarray(mean, np.float32).reshape(1, 1, 1, 3)
    s = np.asarray(std, np.float32).reshape(1, 1, 1, 3)
    rgb = x.detach().float().cpu().permute(0, 2, 3, 1).numpy() * s + m
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def kl_to_teacher(logits: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Mean per-pixel KL(teacher || student) for two classes: ``logits`` N x 2 x H x W, ``teacher`` N x H x W
    probabilities of class 1. Zero where the student's softmax equals the teacher's probability."""
    logp = F.log_softmax(logits.float(), dim=1)
    p = teacher.clamp(1e-6, 1 - 1e-6)
    target = torch.stack((1 - p, p), dim=1)
    return (target * (target.log() - logp)).sum(1).mean()


class Distiller:
    """A teacher run on the training batches, and the loss term it adds (see the module docstring)."""

    def __init__(self, teacher: Teacher, mean: Sequence[float], std: Sequence[float], weight: float) -> None:
        self.teacher, self.mean, self.std, self.weight = teacher, tuple(mean), tuple(std), float(weight)

    @classmethod
    def open(cls, spec: str, mean: Sequence[float], std: Sequence[float], weight: float,
             threads: int | None = None) -> Distiller:
        """The teacher named by ``spec`` (as ``segblur label --teacher``: ``KIND=MODEL`` or a model file/name)."""
        return cls(open_teacher(spec, threads), mean, std, weight)

    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """The teacher's person probability (N x H x W float32) for a normalised batch, each view framed as the
        teacher wants its input (stretched or letterboxed) and mapped back onto the view's pixels."""
        views = to_rgb8(x, self.mean, self.std)
        n, h, w = views.shape[:3]
        out = np.empty((n, h, w), np.float32)
        for i, view in enumerate(views):
            if self.teacher.fit == "stretch":  # a plain resize each way (a warp would fade the edges to black)
                prob, _ = self.teacher.run(cv2.resize(view, self.teacher.input_size, interpolation=cv2.INTER_LINEAR))
                out[i] = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)
            else:  # letterboxed: every pixel of the whole view is covered
                out[i] = run_region(self.teacher, view, (0.0, 0.0, float(w), float(h))).full((h, w))[0]
        return torch.from_numpy(out)

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``weight`` x :func:`kl_to_teacher` (``targets`` moved to the logits' device)."""
        return self.weight * kl_to_teacher(logits, targets.to(logits.device, non_blocking=True))
