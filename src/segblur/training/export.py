"""Publish a trained model: checkpoint -> ONNX that meets the runtime's model contract (softmax in the graph +
metadata), optionally quantised to INT8; or an exported ONNX model -> INT8. :func:`export_model` is the one entry
(``segblur export``).

The exported file is checked twice before it is written (atomically): ONNX's checker, then the
runtime's own loader, and ONNX Runtime's output must match torch's on a random input. Torch and onnx are imported
only for checkpoints, so quantising an ONNX model works without the train extra.
"""

from __future__ import annotations

import contextlib
import io
import json
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..denormals import flush_denormals
from ..fastsoftmax import fast_softmax
from ..io import OverwriteError, check_output, one_line, temp_file, write_atomic
from ..runtime.model import METADATA_KEY, OnnxModel, parse_metadata

if TYPE_CHECKING:
    import torch.nn as nn

SUMMARY_KEYS = ("pixel_accuracy", "mean_pixel_accuracy", "mean_iou", "frequency_weighted_iou", "mean_boundary_f1")


class ExportError(ValueError):
    """An export that cannot be done; the message is one line naming the file."""


def export_model(source: str | Path, output: str | Path, *, name: str | None = None,
                 foreground: Sequence[str] | None = None, data: str | None = None,
                 metrics: Mapping | Sequence | str | Path | None = None, int8: bool = False,
                 calibration: str | Path | Sequence[str | Path] | None = None, opset: int = 17,
                 progress: bool = False) -> Path:
    """A training checkpoint -> ONNX model (``int8``: then quantised, calibrated on ``calibration`` images), or an
    exported ``.onnx`` model -> its INT8 version. Returns the written path; ExportError (one line) when it cannot,
    among others for an ``output`` that is not ``.onnx`` or that is, or lies inside, one of the inputs.

    ``metrics`` is a ``segblur evaluate --json`` report (a file, or the loaded JSON) or ``{split: {metric: value}}``;
    it goes into the metadata through :func:`metrics_summary`. ``progress``: a progress line over the INT8
    calibration images.
    """
    source, output = Path(source), Path(output)
    inputs = [source, metrics if isinstance(metrics, (str, Path)) else None,
              *([calibration] if isinstance(calibration, (str, Path)) else calibration or [])]
    try:
        check_output(output, inputs)
    except OverwriteError as e:
        raise ExportError(str(e)) from None
    if output.suffix.lower() != ".onnx":
        raise ExportError(f"{output}: a model is written as ONNX; name it {output.stem}.onnx")
    if int8 and calibration is None:
        raise ExportError("--int8 needs --calibration DIR (a few hundred typical images)")
    if calibration is not None and not int8:
        raise ExportError("--calibration is for --int8 (the images its quantisation is calibrated on); add --int8 "
                          "or leave it out")
    summary = _metrics(metrics)
    if source.suffix.lower() == ".onnx" and source.is_file():
        if not int8:
            raise ExportError(f"{source}: already an ONNX model; pass --int8 --calibration DIR to quantise it")
        if foreground or data is not None:  # they were silently dropped: the quantised model keeps the source's
            raise ExportError(f"{source}: an ONNX model keeps its own kept classes and data note; --foreground and "
                              "--data-note apply when exporting a checkpoint")
        return _quantize(source, output, calibration, name=name, metrics=summary, progress=progress)
    if not source.is_file():
        raise ExportError(f"{source}: no such checkpoint")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise ExportError(f"{source}: exporting a checkpoint needs torch: pip install 'segblur[train]'") from None
    with temp_file(output) if int8 else contextlib.nullcontext(output) as target:  # int8: fp32 first, then quantised
        export_checkpoint(source, target, name=name or output.stem, foreground=list(foreground or []) or None,
                          data=data, metrics=summary, opset=opset)
        if int8:
            _quantize(target, output, calibration, name=None, metrics=None, progress=progress)
    return output


def _metrics(metrics: Mapping | Sequence | str | Path | None) -> dict | None:
    if metrics is None:
        return None
    if isinstance(metrics, (str, Path)):
        try:
            return metrics_summary(json.loads(Path(metrics).read_text(encoding="utf-8")))
        except (OSError, ValueError) as e:
            raise ExportError(f"{metrics}: cannot use these metrics ({one_line(e)})") from None
    try:
        return metrics_summary(metrics)
    except ValueError as e:
        raise ExportError(f"metrics: {one_line(e)}") from None


def _quantize(source: Path, output: Path, calibration: Any, *, name: str | None, metrics: dict | None,
              progress: bool = False) -> Path:
    from ..quantize import quantize_int8

    try:
        return quantize_int8(source, output, calibration, name=name, metrics=metrics, progress=progress)
    except (ValueError, OSError, RuntimeError) as e:
        raise ExportError(one_line(e)) from None


def export_onnx(model: nn.Module, path: str | Path, metadata: dict[str, Any], opset: int = 17) -> Path:
    """Export ``model`` (logits NCHW) to ``path`` with ``metadata`` (see runtime.model); returns the path."""
    import onnx
    import torch

    path = Path(path)
    info = parse_metadata(metadata, str(path))  # refuse bad metadata before exporting anything
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = info.input_size
    # The graph outputs class probabilities; parameters keep their "net." names.
    net = torch.nn.Sequential(OrderedDict(net=model, softmax=torch.nn.Softmax(dim=1))).eval()
    x = torch.randn(1, 3, h, w)
    # A "keep" model runs at each image's aspect ratio: its height and width stay free in the graph.
    free = {0: "batch", 2: "height", 3: "width"} if info.resize == "keep" else {0: "batch"}
    buf = io.BytesIO()
    with warnings.catch_warnings():  # the tracer's notes on shape checks and its own deprecation are not ours
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), buf, dynamo=False, opset_version=opset,
                          input_names=[info.input_name or "image"], output_names=[info.output_name or "probabilities"],
                          dynamic_axes={info.input_name or "image": free,
                                        info.output_name or "probabilities": free})
    proto = onnx.load_from_string(buf.getvalue())
    flush_denormals(proto)  # subnormal weights cost 10x CPU on Intel (segblur.denormals)
    fast_softmax(proto)  # ONNX Runtime's channel Softmax was a fifth of person-lite's time (segblur.fastsoftmax)
    meta = info.to_metadata()
    meta["input"]["name"] = proto.graph.input[0].name
    meta["output"].update(name=proto.graph.output[0].name, kind="probabilities")
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    proto.producer_name = "segblur"
    onnx.checker.check_model(proto)
    with temp_file(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
        runtime = OnnxModel(tmp)
        inputs = [x] + ([torch.randn(1, 3, *info.input_size_for(720, 1280))] if info.resize == "keep" else [])
        for x in inputs:  # and a landscape frame's input for a "keep" model
            with torch.no_grad():
                ref = net(x).numpy()
            got = runtime.run(x.numpy())
            if ref.shape != got.shape:
                raise RuntimeError(f"ONNX Runtime output is {list(got.shape)}, torch's {list(ref.shape)}")
            if not np.allclose(ref, got, atol=1e-4):
                raise RuntimeError(f"ONNX Runtime output differs from torch by {np.abs(ref - got).max():.2e} "
                                   f"at {list(x.shape)}")
    write_atomic(path, proto.SerializeToString())
    return path


def metrics_summary(obj: Any) -> dict:
    """Metrics for the model metadata: ``{"<dataset> <split>": {score: value}}``.

    Accepts ``segblur evaluate --json`` reports (one, or a list of them) and keeps their summary scores
    and per-class IoU; any other mapping of split names to score mappings is stored as it is.
    """
    reports = obj if isinstance(obj, list) else [obj]
    if any(isinstance(r, dict) and "sequence" in r for r in reports):
        raise ValueError("a segblur evaluate --sequence report scores one video, not a split; give a report of "
                         "segblur evaluate --data ... --json")
    if all(isinstance(r, dict) and "split" in r and "mean_iou" in r for r in reports):
        out: dict[str, dict] = {}
        for r in reports:
            kind, _, where = str(r.get("data", "")).partition(":")
            name = "person" if kind == "person" else Path(where or kind).name
            scores = {k: round(r[k], 4) for k in SUMMARY_KEYS if isinstance(r.get(k), (int, float))}
            for cls, row in (r.get("per_class") or {}).items():
                if isinstance(row, dict) and isinstance(row.get("iou"), (int, float)):
                    scores[f"iou_{cls}"] = round(row["iou"], 4)
            scores["images"] = r.get("images")
            out[f"{name or 'data'} {r['split']}"] = scores
        return out
    if isinstance(obj, dict) and obj and all(isinstance(v, (dict, str)) for v in obj.values()):
        return obj  # {split: {metric: value}}, plus notes
    raise ValueError("expected a segblur evaluate --json report or {split: {metric: value}}")


def model_from_checkpoint(ckpt_path: str | Path) -> tuple[nn.Module, dict]:
    """Rebuild the network stored in a training checkpoint; returns (model in eval mode, checkpoint)."""
    from .checkpoint import load
    from .models import create_model

    ck = load(ckpt_path)
    cfg = ck["config"]
    model = create_model(cfg["arch"], num_classes=len(cfg["classes"]), **cfg.get("arch_kwargs", {}))
    model.load_state_dict(ck["model"])
    return model.eval(), ck


def data_note(cfg: Mapping[str, Any]) -> str:
    """One line on a run's training data, for the metadata: the spec (a person mix's sets) and the split's size."""
    data = cfg.get("data", "")
    if isinstance(data, Mapping):  # a person mix
        parts = [f"{e['set']} {e['split']}" + (f" x{e['weight']:g}" if e.get("weight", 1) != 1 else "")
                 + (" (teacher masks)" if e.get("masks") else "") for e in data.get("train", [])]
        data = f"person mix of {', '.join(parts)}"
    if cfg.get("train_split"):
        data = f"{data} (split {cfg['train_split']}, {cfg.get('train_samples', '?')} images)"
    return str(data)


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
    for split, scores in (metrics or {}).items():  # a report of another model's classes would be stored as its own
        other = [k[4:] for k in scores if isinstance(scores, dict) and k.startswith("iou_") and k[4:] not in classes]
        if other:
            raise ValueError(f"metrics: {split} scores classes {other} that the model does not have ({classes}); "
                             "give a report of this model")
    return {
        "format": 1, "name": name, "architecture": cfg["arch"],
        "classes": classes, "foreground": list(fg),
        "input": {"name": "image", "size": [size, size], "layout": "NCHW", "color": "RGB",
                  "mean": list(cfg["mean"]), "std": list(cfg["std"]), "resize": cfg.get("resize", "stretch")},
        "output": {"name": "probabilities", "kind": "probabilities"},
        "data": data if data is not None else data_note(cfg), "training": training_summary(ck),
        "metrics": metrics or {},
    }


def export_checkpoint(ckpt_path: str | Path, output: str | Path, *, name: str | None = None,
                      foreground: list[str] | None = None, data: str | None = None, metrics: dict | None = None,
                      opset: int = 17) -> Path:
    """Checkpoint file -> ONNX model meeting the runtime contract (verified against torch); returns the path.

    ExportError (one line naming the file) for a file that is not a segblur training checkpoint.
    """
    output = Path(output)
    try:
        model, ck = model_from_checkpoint(ckpt_path)
    except (KeyError, EOFError) as e:
        raise ExportError(f"{ckpt_path}: not a segblur training checkpoint (missing {e})") from None
    except (ValueError, TypeError, OSError, RuntimeError) as e:  # options or weights that do not fit the network
        raise ExportError(f"{ckpt_path}: {one_line(e)}") from None
    except Exception as e:  # torch.load raises UnpicklingError and friends on a file that is not a checkpoint
        if type(e).__module__.startswith(("pickle", "_pickle", "zipfile", "torch")):
            raise ExportError(f"{ckpt_path}: not a readable checkpoint ({type(e).__name__})") from None
        raise
    try:
        meta = checkpoint_metadata(ck, name or output.stem, foreground=foreground, data=data, metrics=metrics)
    except KeyError as e:
        raise ExportError(f"{ckpt_path}: not a segblur training checkpoint (missing {e})") from None
    except ValueError as e:  # our own one-line message (one_line would cut it at "] ")
        raise ExportError(str(e)) from None
    try:
        return export_onnx(model, output, meta, opset=opset)
    except (ValueError, OSError, RuntimeError) as e:
        raise ExportError(one_line(e)) from None


def training_summary(ck: dict) -> dict:
    """Epochs and the checkpoint's own validation scores (when it has them), for the metadata."""
    # A soup has no epochs of its own: its members' are in their checkpoints.
    out: dict[str, Any] = {} if ck.get("soup") else {"epochs": ck.get("epoch", -1) + 1}
    cfg = ck.get("config", {})
    for key in ("optimizer", "schedule", "lr", "batch_size", "image_size", "resize", "seed", "arch_kwargs"):
        if key in cfg:
            out[key] = cfg[key]
    if cfg.get("ema"):  # the weights are a moving average with this decay per step
        out["ema"] = cfg["ema"]
    if cfg.get("teacher"):  # distilled: which teacher, by file name (a local path says nothing elsewhere)
        from .teachers import split_spec

        out["teacher"] = Path(split_spec(cfg["teacher"])[1]).name
        out["teacher_weight"] = cfg.get("teacher_weight")
    if ck.get("soup"):  # the average of these checkpoints (segblur soup), by file path as given
        out["soup"] = [str(p) for p in ck["soup"]]
    val = ck.get("val")
    if val:
        if cfg.get("val_split"):
            out["val_split"] = cfg["val_split"]
        out["val_mean_iou"] = round(val["mean_iou"], 4)
        if val.get("pixel_accuracy") is not None:
            out["val_pixel_accuracy"] = round(val["pixel_accuracy"], 4)
        out["val_per_class_iou"] = {k: v if v is None else round(v, 4) for k, v in val["per_class_iou"].items()}
    return out
