"""Checkpoint save/load: written atomically (a crash or kill mid-write never loses the previous checkpoint)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..io import write_atomic


def save(obj: Any, path: str | Path) -> None:
    """``torch.save`` through :func:`segblur.io.write_atomic` (temp file, fsync, rename)."""
    write_atomic(path, lambda f: torch.save(obj, f))


def load(path: str | Path) -> dict:
    """Load a checkpoint dict on the CPU."""
    return torch.load(Path(path), map_location="cpu", weights_only=False)
