"""Model registry: each architecture file registers a builder with ``@register_model``.

Importing this package imports every architecture module, so ``list_models()`` is complete.
"""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator that adds a model builder to the registry under ``name``."""

    def deco(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn

    return deco


def list_models() -> list[str]:
    """Names of every registered architecture, sorted."""
    return sorted(_REGISTRY)


def create_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build architecture ``name`` with ``num_classes`` output channels (logits, NCHW)."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(list_models())}") from None
    return builder(num_classes=num_classes, **kwargs)


# Each architecture module registers itself on import.
from . import deconvnet, deeplabv3, efficientnet_lite, fastseg, unet  # noqa: E402,F401
