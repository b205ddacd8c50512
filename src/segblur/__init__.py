"""segblur: blur (or otherwise filter) the background of photos, videos and camera frames.

    >>> import segblur
    >>> out = segblur.Pipeline().process(rgb_image)        # blurred background, person kept
    >>> prob = segblur.Segmenter().predict(rgb_image)      # HxW person probability

The names below are imported on first use, so ``import segblur`` (and the CLI's start) stays light.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "ModelError": ("runtime.model", "ModelError"),
    "Pipeline": ("runtime.pipeline", "Pipeline"),
    "RefineConfig": ("runtime.refine", "RefineConfig"),
    "Segmenter": ("runtime.segmenter", "Segmenter"),
    "list_builtin_models": ("names", "builtin_models"),
    "list_effects": ("runtime.effects", "list_effects"),
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        module, attr = _LAZY[name]
        value = getattr(import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'segblur' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
