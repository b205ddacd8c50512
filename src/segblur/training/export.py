"""Checkpoint -> ONNX model that meets the runtime's model contract (softmax in the graph + metadata).

    python -m segblur.training.export runs/person-fast/best.pt -o person-fast.onnx --name person-fast

The exported file is checked twice before it is written (atomically): ONNX's checker, then the
runtime's own loader, and ONNX Runtime's output must match torch's on a random input.
"""

from __future__ import annotations

import argparse
import io
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
import torch.nn as nn

from ..io import write_atomic
from ..runtime.model import METADATA_KEY, OnnxModel, parse_metadata
from .checkpoint import load
from .models import create_model


class WithSoftmax(nn.Module):
    """Wraps a logits network so the graph outputs class probabilities."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net(x), dim=1)


def export_onnx(model: nn.Module, path: str | Path, metadata: dict[str, Any], opset: int = 17) -> Path:
    """Export ``model`` (logits NCHW) to ``path`` with ``metadata`` (see runtime.model); returns the path."""
    path = Path(path)
    info = parse_metadata(metadata, str(path))  # refuse bad metadata before exporting anything
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = info.input_size
    net = WithSoftmax(model).eval()
    x = torch.randn(1, 3, h, w)
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the tracer's notes on shape checks and its own deprecation are not ours
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), buf, dynamo=False, opset_version=opset,
                          input_names=[info.input_name or "image"], output_names=[info.output_name or "probabilities"],
                          dynamic_axes={info.input_name or "image": {0: "batch"},
                                        info.output_name or "probabilities": {0: "batch"}})
    proto = onnx.load_from_string(buf.getvalue())
    flush_subnormals(proto)
    meta = info.to_metadata()
    meta["input"]["name"] = proto.graph.input[0].name
    meta["output"].update(name=proto.graph.output[0].name, kind="probabilities")
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    proto.producer_name = "segblur"
    onnx.checker.check_model(proto)
    tmp = path.with_name(f".{path.name}.check.onnx")
    try:
        tmp.write_bytes(proto.SerializeToString())
        runtime = OnnxModel(tmp)
        with torch.no_grad():
            ref = net(x).numpy()
        got = runtime.run(x.numpy())
        if not np.allclose(ref, got, atol=1e-4):
            raise RuntimeError(f"ONNX Runtime output differs from torch by {np.abs(ref - got).max():.2e}")
    finally:
        tmp.unlink(missing_ok=True)
    write_atomic(path, proto.SerializeToString())
    return path


def flush_subnormals(proto: onnx.ModelProto) -> int:
    """Set float32 weights smaller than the smallest normal float to zero; returns how many there were.

    Weight decay leaves dead filters at subnormal values, and on Intel CPUs each multiply by one takes a microcode
    assist: the shipped person-fast (140 k subnormal weights) ran its ONNX Runtime pass in 138 ms of CPU per frame
    on a 2-core Xeon, and in 35 ms with them zeroed (same load; no effect on its output).
    """
    from onnx import numpy_helper

    count = 0
    for tensor in proto.graph.initializer:
        if tensor.data_type != onnx.TensorProto.FLOAT:
            continue
        w = numpy_helper.to_array(tensor)
        tiny = (w != 0) & (np.abs(w) < np.finfo(np.float32).tiny)
        if tiny.any():
            count += int(tiny.sum())
            tensor.CopyFrom(numpy_helper.from_array(np.where(tiny, np.float32(0), w), tensor.name))
    return count


SUMMARY_KEYS = ("pixel_accuracy", "mean_pixel_accuracy", "mean_iou", "frequency_weighted_iou", "mean_boundary_f1")


def metrics_summary(obj: Any) -> dict:
    """Metrics for the model metadata: ``{"<dataset> <split>": {score: value}}``.

    Accepts ``segblur evaluate --json`` reports (one, or a list of them) and keeps their summary scores
    and per-class IoU; any other mapping of split names to score mappings is stored as it is.
    """
    reports = obj if isinstance(obj, list) else [obj]
    if all(isinstance(r, dict) and "split" in r and "mean_iou" in r for r in reports):
        out: dict[str, dict] = {}
        for r in reports:
            name = Path(str(r.get("data", "")).split(":", 1)[-1]).name or "data"
            scores = {k: round(r[k], 4) for k in SUMMARY_KEYS if isinstance(r.get(k), (int, float))}
            for cls, row in (r.get("per_class") or {}).items():
                if isinstance(row, dict) and isinstance(row.get("iou"), (int, float)):
                    scores[f"iou_{cls}"] = round(row["iou"], 4)
            scores["images"] = r.get("images")
            out[f"{name} {r['split']}"] = scores
        return out
    if isinstance(obj, dict) and obj and all(isinstance(v, (dict, str)) for v in obj.values()):
        return obj  # {split: {metric: value}}, plus notes
    raise ValueError("expected a segblur evaluate --json report or {split: {metric: value}}")


def model_from_checkpoint(ckpt_path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the network stored in a training checkpoint; returns (model in eval mode, config)."""
    ck = load(ckpt_path)
    cfg = ck["config"]
    kwargs = cfg.get("arch_kwargs")
    if kwargs is None:  # checkpoints of train_person store the width at the top level
        kwargs = {"width": cfg.get("width", 1.0)}
    model = create_model(cfg["arch"], num_classes=len(cfg["classes"]), **kwargs)
    model.load_state_dict(ck["model"])
    return model.eval(), ck


def checkpoint_metadata(ck: dict, name: str, *, foreground: list[str] | None = None, data: str | None = None,
                        metrics: dict | None = None) -> dict:
    """The runtime metadata of a checkpoint's network: classes, input, normalisation, data and scores."""
    cfg = ck["config"]
    size = int(cfg["image_size"])
    classes = list(cfg["classes"])
    fg = foreground or cfg.get("foreground") or classes[1:]
    unknown = [c for c in fg if c not in classes]
    if unknown:
        raise ValueError(f"foreground classes {unknown} are not among the model's classes {classes}")
    if data is None:
        data = cfg.get("data", "")
        if cfg.get("train_split"):
            data = f"{data} (split {cfg['train_split']}, {cfg.get('train_samples', '?')} images)"
    return {
        "format": 1, "name": name, "architecture": cfg["arch"],
        "classes": classes, "foreground": list(fg),
        "input": {"name": "image", "size": [size, size], "layout": "NCHW", "color": "RGB",
                  "mean": list(cfg["mean"]), "std": list(cfg["std"]), "resize": "stretch"},
        "output": {"name": "probabilities", "kind": "probabilities"},
        "data": data, "training": training_summary(ck), "metrics": metrics or {},
    }


def export_checkpoint(ckpt_path: str | Path, output: str | Path, *, name: str | None = None,
                      foreground: list[str] | None = None, data: str | None = None, metrics: dict | None = None,
                      opset: int = 17) -> Path:
    """Checkpoint file -> ONNX model meeting the runtime contract (verified against torch); returns the path."""
    output = Path(output)
    model, ck = model_from_checkpoint(ckpt_path)
    meta = checkpoint_metadata(ck, name or output.stem, foreground=foreground, data=data, metrics=metrics)
    return export_onnx(model, output, meta, opset=opset)


def training_summary(ck: dict) -> dict:
    """Epochs and the checkpoint's own validation scores (when it has them), for the metadata."""
    out: dict[str, Any] = {"epochs": ck.get("epoch", -1) + 1}
    cfg = ck.get("config", {})
    for key in ("optimizer", "schedule", "lr", "batch_size", "image_size", "seed", "arch_kwargs"):
        if key in cfg:
            out[key] = cfg[key]
    val = ck.get("val")
    if val:
        if cfg.get("val_split"):
            out["val_split"] = cfg["val_split"]
        out["val_mean_iou"] = round(val["mean_iou"], 4)
        if val.get("pixel_accuracy") is not None:
            out["val_pixel_accuracy"] = round(val["pixel_accuracy"], 4)
        out["val_per_class_iou"] = {k: v if v is None else round(v, 4) for k, v in val["per_class_iou"].items()}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--name", default=None, help="model name stored in the metadata (default: output stem)")
    ap.add_argument("--foreground", nargs="+", default=None, help="default foreground classes")
    ap.add_argument("--data", default="", help="one-line description of the training data")
    ap.add_argument("--metrics", type=Path, default=None, help="JSON file whose content goes into metadata.metrics")
    args = ap.parse_args(argv)
    export_checkpoint(args.checkpoint, args.output, name=args.name, foreground=args.foreground,
                      data=args.data or None, metrics=json.loads(args.metrics.read_text()) if args.metrics else None)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
