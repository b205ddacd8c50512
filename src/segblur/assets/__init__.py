"""Files shipped inside the package: built-in models (with cards) and sample images."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_path(name: str = "astronaut.jpg") -> Path:
    """Path of a bundled, redistributable sample image (see assets/samples/README.md)."""
    return Path(str(resources.files("segblur") / "assets" / "samples" / name))
