"""Inference wing: numpy + OpenCV + ONNX Runtime only (never torch).

The names below load on first use, so importing a leaf such as :mod:`.frames` or :mod:`.workspace` (as media does)
does not load ONNX Runtime or the rest of the runtime.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "ModelError": "model",
    "ModelInfo": "model",
    "OnnxModel": "model",
    "Pipeline": "pipeline",
    "RefineConfig": "refine",
    "Segmenter": "segmenter",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
