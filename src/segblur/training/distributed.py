"""Devices and data-parallel processes: one process unless ``torchrun`` started several (gloo on CPU, NCCL on GPUs)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    """Rank and world size (1 process unless launched by torchrun)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when torchrun started us (``WORLD_SIZE`` > 1); gloo on CPU, NCCL on CUDA."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size())


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` is CUDA when present; one GPU per local rank under DDP."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("--device cuda was asked for but no CUDA GPU is available")
        return torch.device(f"cuda:{local_rank}" if name == "cuda" else name)
    return torch.device("cpu")


def is_main_process() -> bool:
    """Rank 0 of a torchrun launch, or the only process (before the process group exists too)."""
    return os.environ.get("RANK", "0") == "0"
