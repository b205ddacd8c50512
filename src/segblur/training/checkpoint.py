"""Atomic checkpoint save/load: a crash or kill mid-write never loses the previous checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from ..media.images import open_temp


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to a temp file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = open_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load(path: str | Path) -> dict:
    """Load a checkpoint dict on the CPU."""
    return torch.load(Path(path), map_location="cpu", weights_only=False)
