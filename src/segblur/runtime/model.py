"""The model contract: one ``.onnx`` file whose metadata carries everything needed to run it.

The metadata is a JSON object stored under the ONNX ``metadata_props`` key ``segblur``::

    {"format": 1, "name": "person-fast", "architecture": "fastseg",
     "classes": ["background", "person"], "foreground": ["person"],
     "input": {"name": "image", "size": [192, 192], "layout": "NCHW", "color": "RGB",
               "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5], "resize": "stretch"},
     "output": {"name": "probabilities", "kind": "probabilities"},
     "data": "...", "metrics": {...}}

mean/std are in 0-255 pixel units: the network sees ``(pixel - mean) / std``. ``input.resize`` is
``stretch`` (every image stretched to ``size``) or ``keep``: the image keeps its aspect ratio at about
``size``'s pixel count, sides multiples of 16 (:func:`~segblur.runtime.resize.kept_size`; 1280x720 with
[192, 192] runs at 144x256), so the graph's height and width must be free. ``output.kind`` is
``probabilities`` (softmax in the graph) or ``logits``. Loading validates all of it and refuses a
bad file with one line naming it (:class:`ModelError`).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from ..names import CHECKPOINT_SUFFIXES, DEFAULT_MODEL, RESIZES, builtin_dir, builtin_models
from .resize import kept_size

log = logging.getLogger("segblur")

METADATA_KEY = "segblur"
FORMAT_VERSION = 1


class ModelError(Exception):
    """A model file that cannot be used; the message is one line naming the file."""


@dataclass(frozen=True)
class ModelInfo:
    """Validated model metadata."""

    name: str
    architecture: str
    classes: tuple[str, ...]
    foreground: tuple[str, ...]
    input_name: str
    input_size: tuple[int, int]  # (height, width)
    layout: str
    color: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str
    output_name: str
    output_kind: str
    extra: dict[str, Any] = field(default_factory=dict)

    def input_size_for(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) of the network input for an image of ``height`` x ``width``: ``input_size``, or for ``keep`` the
        image's aspect ratio at about as many pixels."""
        if self.resize == "keep":
            return kept_size(height, width, self.input_size)
        return self.input_size

    def to_metadata(self) -> dict[str, Any]:
        """The JSON object stored in the ONNX file (inverse of :func:`parse_metadata`)."""
        meta = dict(self.extra)
        meta.update(format=FORMAT_VERSION, name=self.name, architecture=self.architecture,
                    classes=list(self.classes), foreground=list(self.foreground),
                    input={"name": self.input_name, "size": list(self.input_size), "layout": self.layout,
                           "color": self.color, "mean": list(self.mean), "std": list(self.std),
                           "resize": self.resize},
                    output={"name": self.output_name, "kind": self.output_kind})
        return meta


def parse_metadata(meta: dict[str, Any], where: str = "model") -> ModelInfo:
    """Validate a metadata dict and return :class:`ModelInfo`; raise :class:`ModelError` otherwise."""

    def bad(msg: str) -> ModelError:
        return ModelError(f"{where}: invalid segblur metadata: {msg}")

    if not isinstance(meta, dict):
        raise bad("not a JSON object")
    if type(meta.get("format")) is not int or meta.get("format") != FORMAT_VERSION:
        raise bad(f"format {meta.get('format')!r} is not supported (expected {FORMAT_VERSION})")
    classes = meta.get("classes")
    if not (isinstance(classes, list) and len(classes) >= 2 and all(isinstance(c, str) and c for c in classes)
            and len(set(classes)) == len(classes)):
        raise bad("'classes' must be a list of at least two distinct names")
    fg = meta.get("foreground")
    if not (isinstance(fg, list) and fg and all(c in classes for c in fg) and len(set(fg)) == len(fg)):
        raise bad("'foreground' must be a non-empty list of distinct names from 'classes'")
    inp, out = meta.get("input"), meta.get("output")
    if not isinstance(inp, dict) or not isinstance(out, dict):
        raise bad("'input' and 'output' must be objects")
    size = inp.get("size")
    if not (isinstance(size, list) and len(size) == 2 and all(type(s) is int and s > 0 for s in size)):
        raise bad("'input.size' must be [height, width]")
    for key in ("mean", "std"):
        v = inp.get(key)
        if not (isinstance(v, list) and len(v) == 3
                and all(type(x) in (int, float) and math.isfinite(x) for x in v)):
            raise bad(f"'input.{key}' must be three finite numbers")
    if any(s == 0 for s in inp["std"]):
        raise bad("'input.std' must not be zero")
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # what the network would be fed
        ends = (np.array([[0.0], [255.0]], np.float32) - np.array(inp["mean"], np.float32)) \
            / np.array(inp["std"], np.float32)
    if not np.isfinite(ends).all():
        raise bad("'input.mean' and 'input.std' turn pixels into infinite or NaN inputs (float32)")
    if inp.get("layout") != "NCHW" or inp.get("color") not in ("RGB", "BGR"):
        raise bad("only NCHW layout with RGB or BGR colour is supported")
    if inp.get("resize", "stretch") not in RESIZES:
        raise bad("'input.resize' must be 'stretch' or 'keep'")
    if out.get("kind") not in ("probabilities", "logits"):
        raise bad("'output.kind' must be 'probabilities' or 'logits'")
    known = {"format", "name", "architecture", "classes", "foreground", "input", "output"}
    return ModelInfo(
        name=str(meta.get("name", "model")), architecture=str(meta.get("architecture", "unknown")),
        classes=tuple(classes), foreground=tuple(fg), input_name=str(inp.get("name", "")),
        input_size=(size[0], size[1]), layout="NCHW", color=inp["color"],
        mean=tuple(float(x) for x in inp["mean"]), std=tuple(float(x) for x in inp["std"]),  # type: ignore[arg-type]
        resize=str(inp.get("resize", "stretch")), output_name=str(out.get("name", "")), output_kind=out["kind"],
        extra={k: v for k, v in meta.items() if k not in known},
    )


class ModelOutputError(ModelError, ValueError):
    """The model gave NaN or infinite values for an input (a ValueError, so per-file loops report it and go on)."""


def check_finite(output: np.ndarray, what: str) -> None:
    """Raise :class:`ModelOutputError` naming ``what`` when ``output`` holds NaN or infinity.

    A broken model (or one fed absurd mean/std) otherwise gives an all-black mask and a numpy warning.
    """
    if not np.isfinite(output).all():
        raise ModelOutputError(f"{what} holds NaN or infinite values; the model is broken for this input")


def _is_checkpoint(path: Path) -> bool:
    """True for a file that starts like a torch checkpoint (a zip archive, or a pickle)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return head.startswith((b"PK\x03\x04", b"\x80\x02", b"\x80\x04", b"\x80\x05"))


def resolve_model_path(model: str | Path) -> Path:
    """``"default"``, a built-in name, or a path -> the ``.onnx`` file to load."""
    s = str(model)
    name = DEFAULT_MODEL if s == "default" else s
    p = builtin_dir() / f"{name}.onnx"
    if "/" not in name and "\\" not in name and not name.endswith(".onnx") and p.exists():
        return p
    path = Path(s).expanduser()
    if not path.exists():
        builtins = ", ".join(builtin_models()) or "none installed"
        raise ModelError(f"{s}: no such model file or built-in model (built-in: {builtins})")
    return path


def model_card(name: str) -> str | None:
    """The Markdown model card shipped beside a built-in model, if any."""
    p = builtin_dir() / f"{name}.md"
    return p.read_text(encoding="utf-8") if p.exists() else None


# Short names for --provider (any full ONNX Runtime name works too), and the order "auto" prefers them in.
PROVIDER_NAMES = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider",
                  "rocm": "ROCMExecutionProvider", "coreml": "CoreMLExecutionProvider",
                  "dml": "DmlExecutionProvider", "openvino": "OpenVINOExecutionProvider", "cpu": "CPUExecutionProvider"}
AUTO = ("CUDAExecutionProvider", "ROCMExecutionProvider", "CoreMLExecutionProvider", "DmlExecutionProvider")


def provider_name(name: str) -> str:
    """``cuda`` -> ``CUDAExecutionProvider`` (case-insensitive); a full name is returned as it is."""
    return PROVIDER_NAMES.get(name.strip().lower(), name.strip())


def choose_providers(providers: Sequence[str] | None, available: Sequence[str] | None = None) -> list[str]:
    """The providers to open a session with: the requested ones (short names or full, ``auto`` for the best
    available accelerator) in order with the CPU last as the fallback for operators they lack; without a
    request, ``auto``. ``available`` defaults to what this ONNX Runtime build has (onnxruntime-gpu has CUDA).

    A requested provider this build lacks is a :class:`ModelError` naming what it has. TensorRT is never
    picked by ``auto`` (its engine build takes minutes on the first run).
    """
    have = list(ort.get_available_providers() if available is None else available)
    wanted: list[str] = []
    for p in providers or ["auto"]:
        names = [a for a in AUTO if a in have] if p.strip().lower() == "auto" else [provider_name(p)]
        wanted += [n for n in names if n not in wanted]
    missing = [p for p in wanted if p not in have]
    if missing:
        raise ModelError(f"execution provider(s) {', '.join(missing)} not available in this ONNX Runtime "
                         f"(available: {', '.join(have)}; CUDA needs the onnxruntime-gpu package)")
    return [p for p in wanted if p != "CPUExecutionProvider"] + ["CPUExecutionProvider"]


class OnnxModel:
    """An ONNX Runtime session plus the validated :class:`ModelInfo` of its file."""

    def __init__(self, model: str | Path = "default", providers: Sequence[str] | None = None,
                 threads: int | None = None) -> None:
        path = resolve_model_path(model)
        self.path = path
        if path.is_dir():
            raise ModelError(f"{path}: is a folder, not a model file")
        if path.suffix.lower() in CHECKPOINT_SUFFIXES or _is_checkpoint(path):
            raise ModelError(f"{path}: is a training checkpoint, not an ONNX model; export it first: "
                             f"segblur export {path} -o {path.stem}.onnx")
        if path.stat().st_size == 0:
            raise ModelError(f"{path}: empty file, not an ONNX model")
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = int(threads)
            opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # No busy-waiting between ops: measured on 2 cores, spinning saves 0.6 ms on an idle machine
        # but doubles the latency (7.6 -> 15 ms) when another process (a video call) shares the CPU.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        chosen = choose_providers(providers)
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=chosen)
        except ModelError:
            raise
        except Exception as e:  # onnxruntime raises several private exception types
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelError(f"{path}: not a valid ONNX model ({reason[:160]})") from None
        raw = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if raw is None:
            raise ModelError(f"{path}: ONNX file has no segblur metadata "
                             "(export it with `python -m segblur.training.export`)")
        try:
            meta = json.loads(raw)
        except json.JSONDecodeError:
            raise ModelError(f"{path}: invalid segblur metadata: not JSON") from None
        self.info = parse_metadata(meta, str(path))
        self._check_graph()
        if self.session.get_providers()[0] != chosen[0]:  # e.g. CUDA in the build but no driver or cuDNN here
            log.warning("model %s: %s could not start, running on %s", path.name, chosen[0], self.provider)
        log.info("model %s (%s) on %s", self.info.name, path.name, self.provider)

    @property
    def provider(self) -> str:
        """The execution provider that runs this session."""
        return self.session.get_providers()[0]

    def _check_graph(self) -> None:
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        if len(ins) != 1:
            raise ModelError(f"{self.path}: model must have exactly one input, has {len(ins)}")
        i = ins[0]
        h, w = self.info.input_size
        shape = i.shape
        if len(shape) != 4 or shape[1] != 3 or any(isinstance(s, int) and s != e for s, e in zip(shape[2:], (h, w))):
            raise ModelError(f"{self.path}: input shape {shape} does not match metadata size [{h}, {w}] (NCHW)")
        if self.info.resize == "keep" and any(isinstance(s, int) for s in shape[2:]):
            raise ModelError(f"{self.path}: input shape {shape} is fixed, but resize 'keep' needs a free height "
                             "and width")
        if i.type != "tensor(float)":
            raise ModelError(f"{self.path}: input must be float32, is {i.type}")
        o = outs[0]
        n = len(self.info.classes)
        if len(o.shape) != 4 or (isinstance(o.shape[1], int) and o.shape[1] != n):
            raise ModelError(f"{self.path}: output shape {o.shape} does not match {n} classes")
        names = (("input", self.info.input_name, i.name), ("output", self.info.output_name, o.name))
        for what, declared, actual in names:
            if declared and declared != actual:
                raise ModelError(f"{self.path}: metadata names {what} {declared!r} but the graph's is {actual!r}")
        self.input_name, self.output_name = i.name, o.name
        # Exporters often leave the output shape symbolic, so check it on a real input (a mid-grey frame,
        # normalised as the metadata says); this also warms the session up, so the first frame is not slower.
        grey = (np.float32(128) - np.array(self.info.mean, np.float32)) / np.array(self.info.std, np.float32)
        try:
            out = self.run(np.broadcast_to(grey.reshape(1, 3, 1, 1), (1, 3, h, w)).copy())
        except Exception as e:
            raise ModelError(f"{self.path}: model fails on a {h}x{w} input ({str(e).splitlines()[0][:120]})") from None
        if out.ndim != 4 or out.shape[1] != n or out.shape[2] < 1 or out.shape[3] < 1:
            raise ModelError(f"{self.path}: output shape {list(out.shape)} does not match {n} classes (NCHW)")
        check_finite(out, f"{self.path}: the model's output on a grey frame")

    def run(self, batch):
        """Run the network on an NCHW float32 batch; returns the first output."""
        return self.session.run([self.output_name], {self.input_name: batch})[0]
