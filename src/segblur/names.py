"""The one list of each name the CLI, the API and the preview keys share, importable without ONNX Runtime or torch.

Each list is pinned by a test against the registry it names (``runtime.effects``, the shipped model
files, ``training.models.list_models()``), so they cannot drift apart.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

EFFECTS: tuple[str, ...] = ("blur", "box", "bokeh", "pixelate", "grayscale", "color", "image")
# Effects the preview's e/E keys step through: every effect that needs no picture of its own.
EFFECT_CYCLE: tuple[str, ...] = tuple(e for e in EFFECTS if e != "image")
DEFAULT_EFFECT = "blur"

RESIZES: tuple[str, ...] = ("stretch", "keep")  # a model input: stretched, or the image's aspect kept

DEFAULT_MODEL = "person-lite"
CHECKPOINT_SUFFIXES: tuple[str, ...] = (".pt", ".pth", ".ckpt")  # training checkpoints (torch), not ONNX models

# Who is kept (``--subject``): every person, or the main one (runtime.subject).
SUBJECTS: tuple[str, ...] = ("all", "main")
# Frames the smoothing of a file may look ahead (``--lookahead``; runtime.temporal); the camera never does.
DEFAULT_LOOKAHEAD = 8

# The largest values some training settings take, checked when train and tune read their options and when a recipe
# is validated (training.config); beyond them a run hung, traced back or overflowed after it made its run folder.
# DataLoader worker processes per loader: 1000 hung while a thousand processes started (left behind as orphans);
# 64 is more than a loader can use on any machine this trains on.
MAX_WORKERS = 64
# The input size S (SxS): 8192 is 64 Mpx per view, beyond any segmentation recipe; 10**9 ended in a traceback.
MAX_IMAGE_SIZE = 8192
# The seed: torch's generators take 64 bits (2**70 was "Overflow when unpacking long long"); a signed 64-bit bound
# keeps it a plain integer in every file and log it is written to.
MAX_SEED = 2**63 - 1

# Registered training architectures (``segblur train --arch``), sorted.
ARCHITECTURES: tuple[str, ...] = ("deconvnet", "deeplabv3_mobilenet_v3_large", "deeplabv3_resnet50",
                                  "efficientnet_lite_seg", "fastseg", "unet")


def builtin_dir() -> Path:
    """Folder of the models shipped inside the package."""
    return Path(str(resources.files("segblur") / "assets" / "models"))


def builtin_models() -> list[str]:
    """Names of the shipped models (``<name>.onnx`` in the assets folder), sorted."""
    return sorted(p.stem for p in builtin_dir().glob("*.onnx"))
