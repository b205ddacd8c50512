"""Model registry: each architecture file registers a builder with ``@register_model``.

Importing this package imports every architecture module, so ``list_models()`` is complete.
"""

from __future__ import annotations

import inspect
import re
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


def model_options(name: str) -> dict[str, object]:
    """The options (``--arch-option``, a recipe's ``arch_kwargs``) architecture ``name``'s builder names, with their
    defaults; a builder that also passes ``**kwargs`` on takes its network class's further options."""
    sig = inspect.signature(_REGISTRY[name])
    return {k: p.default for k, p in sig.parameters.items()
            if k != "num_classes" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}


def create_model(name: str, num_classes: int, **kwargs) -> nn.Module:
    """Build architecture ``name`` with ``num_classes`` output channels (logits, NCHW).

    A bad option is one ValueError naming the architecture and the option: an unknown name (with the known ones),
    a value of another type than the option's default, or the builder's own complaint about a value.
    """
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(list_models())}") from None
    known = model_options(name)
    for key, value in kwargs.items():
        if key in known:
            _check_type(name, key, value, known[key])
    try:
        return builder(num_classes=num_classes, **kwargs)
    except TypeError as e:
        bad = re.search(r"unexpected keyword argument '(\w+)'", str(e))
        if bad:
            passes_on = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(builder).parameters.values())
            listed = ", ".join(known) or "none"
            more = " and its network class's" if passes_on else ""
            raise ValueError(f"architecture {name} has no option {bad.group(1)!r} (its options: {listed}{more})"
                             ) from None
        raise ValueError(f"architecture {name} with options {kwargs}: {e}") from None
    except ValueError as e:
        raise ValueError(f"architecture {name} with options {kwargs}: {e}") from None


def _check_type(name: str, key: str, value: object, default: object) -> None:
    """ValueError unless ``value`` has the type of the option's ``default`` (an int will do for a float)."""
    if default is inspect.Parameter.empty or default is None:
        return
    if isinstance(default, bool):
        ok, what = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, what = isinstance(value, int) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, what = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, what = isinstance(value, str), "a string"
    else:
        return
    if not ok:
        raise ValueError(f"architecture {name}: option {key} must be {what} (default {default!r}), got {value!r}")


# Each architecture module registers itself on import.
from . import deconvnet, deeplabv3, efficientnet_lite, fastseg, unet  # noqa: E402,F401
