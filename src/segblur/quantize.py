"""Static INT8 quantisation of segblur ONNX models (onnx + ONNX Runtime, no torch).

    quantize_int8("person-fast.onnx", "person-fast-int8.onnx", Path("calibration_photos/"))

Weights are quantised per output channel to int8 and activations to uint8 in QDQ format, with
ranges calibrated on real photos preprocessed exactly as the runtime feeds the model (stretched to
the input size with the runtime's downscaling, normalised with the metadata's mean/std). The final
softmax (:mod:`segblur.fastsoftmax`'s element-wise form) stays in float, so probabilities keep their full
resolution. The segblur metadata is carried over with ``"quantization": "int8"`` added, so the result loads
like any other model; it is checked with the runtime's loader before it is written (atomically).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from .denormals import flush_denormals
from .fastsoftmax import PREFIX as SOFTMAX_NODES
from .fastsoftmax import fast_softmax
from .io import write_atomic
from .media.images import READ_SUFFIXES, ImageError, read_image
from .progress import Progress
from .runtime.model import METADATA_KEY, ModelError, ModelInfo, OnnxModel, resolve_model_path
from .runtime.segmenter import make_blob

log = logging.getLogger("segblur")

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


class QuantizeError(ValueError):
    """A quantisation that cannot be done; the message is one line naming the file or folder."""


def calibration_files(images: Path | str | Sequence[Path | str], max_images: int = 200) -> list[Path]:
    """Image files from a folder (searched recursively, sorted) or a list, thinned evenly to ``max_images``."""
    if max_images < 1:
        raise QuantizeError(f"max_images must be at least 1, not {max_images}")
    if isinstance(images, (str, Path)):
        folder = Path(images)
        if not folder.is_dir():
            raise QuantizeError(f"{folder}: no such calibration folder")
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in READ_SUFFIXES and p.is_file()
                       and not p.name.startswith("."))
        if not files:
            raise QuantizeError(f"{folder}: no images to calibrate with ({', '.join(READ_SUFFIXES)})")
    else:
        files = [Path(p) for p in images]
        if not files:
            raise QuantizeError("no calibration images given")
    if len(files) > max_images:
        files = [files[i] for i in np.linspace(0, len(files) - 1, max_images).round().astype(int)]
    return files


def _reader(files: list[Path], info: ModelInfo, input_name: str, progress: Progress | None = None):
    """An ONNX Runtime CalibrationDataReader over ``files`` (unreadable ones skipped with a warning), counting each
    file on ``progress``."""
    from onnxruntime.quantization import CalibrationDataReader

    if info.resize == "keep":  # ONNX Runtime's histogram calibrators need one input shape: the budget's
        info = dataclasses.replace(info, resize="stretch")

    class ImageReader(CalibrationDataReader):
        def __init__(self) -> None:
            self.used = 0
            self._it = self._blobs()

        def _blobs(self) -> Iterator[dict[str, np.ndarray]]:
            for p in files:
                try:
                    blob = make_blob(read_image(p), info)  # a new array each: calibration keeps them
                except ImageError as e:
                    log.warning("%s (skipped for calibration)", e)
                    continue
                finally:
                    if progress is not None:
                        progress.update()
                self.used += 1
                yield {input_name: blob}

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    return ImageReader()


def quantize_int8(src_onnx: str | Path, dst_onnx: str | Path, calibration_images: Path | str | Sequence[Path | str],
                  *, max_images: int = 200, method: str = "minmax", per_channel: bool = True,
                  name: str | None = None, metrics: dict | None = None, progress: bool = False) -> Path:
    """Write a static INT8 (QDQ) version of a segblur model calibrated on ``calibration_images``; returns the path.

    ``calibration_images`` is a folder or a list of image files (at most ``max_images`` are used);
    ``method`` is the ONNX Runtime calibration: minmax, entropy or percentile. ``name`` and ``metrics``
    replace the source's in the metadata; without ``metrics`` the source's scores are kept and marked as
    measured before quantisation. ``progress``: a progress line (rate, ETA) over the calibration images, the
    long part (34 s for person-lite on 200 images).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if method not in CALIBRATION_METHODS:
        raise QuantizeError(f"unknown calibration method {method!r} (choose from {', '.join(CALIBRATION_METHODS)})")
    try:
        src = resolve_model_path(src_onnx)
        fp32 = OnnxModel(src, providers=["CPUExecutionProvider"])
    except ModelError as e:
        raise QuantizeError(str(e)) from None
    if fp32.info.extra.get("quantization"):
        raise QuantizeError(f"{src}: already quantised ({fp32.info.extra['quantization']})")
    dst = Path(dst_onnx)
    if dst.is_dir():
        raise QuantizeError(f"{dst}: is a folder; give the output .onnx file name")
    files = calibration_files(calibration_images, max_images)
    proto = onnx.load(str(src))
    with tempfile.TemporaryDirectory(prefix="segblur-quant-") as tmp:
        pre = Path(tmp) / "pre.onnx"
        try:  # shape inference and graph optimisation help the quantiser; a model it cannot handle still works
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=False)
            model_in = pre
        except Exception as e:  # noqa: BLE001 - the preprocessing is optional
            log.info("quantisation preprocessing skipped for %s (%s)", src, str(e).splitlines()[0][:120])
            model_in = src
        graph_in = onnx.load(str(model_in))
        _name_nodes(graph_in)  # the softmax is excluded by name, and an empty name would exclude every unnamed node
        model_in = Path(tmp) / "named.onnx"
        onnx.save(graph_in, str(model_in))
        softmax = [n.name for n in graph_in.graph.node if n.op_type == "Softmax" or n.name.startswith(SOFTMAX_NODES)]
        bar = Progress(len(files), "calibration images", enabled=progress)
        reader = _reader(files, fp32.info, fp32.input_name, bar)
        out = Path(tmp) / "int8.onnx"
        calib = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                 "percentile": CalibrationMethod.Percentile}[method]
        try:
            quantize_static(str(model_in), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=per_channel,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=softmax, calibrate_method=calib,
                            calibration_providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - ONNX Runtime's quantiser raises many kinds of error
            if reader.used == 0:
                raise QuantizeError(f"{files[0].parent}: none of the calibration images could be read") from None
            reason = " ".join(str(e).split())[:200] or type(e).__name__
            raise QuantizeError(f"{src}: INT8 quantisation failed ({reason})") from None
        finally:
            bar.close()
        if reader.used == 0:
            raise QuantizeError(f"{files[0].parent}: none of the calibration images could be read")
        q = onnx.load(str(out))
    meta = fp32.info.to_metadata()
    meta["quantization"] = "int8"
    if name:
        meta["name"] = name
    if metrics is not None:
        meta["metrics"] = metrics
    elif meta.get("metrics"):
        meta["metrics_note"] = "metrics of the fp32 model before quantisation"
    meta["calibration"] = {"images": reader.used, "method": method, "per_channel": per_channel, "format": "QDQ",
                           "activations": "uint8", "weights": "int8"}
    props = {p.key: p.value for p in proto.metadata_props}
    props[METADATA_KEY] = json.dumps(meta)
    del q.metadata_props[:]
    for k, v in props.items():
        entry = q.metadata_props.add()
        entry.key, entry.value = k, v
    q.producer_name = "segblur"
    # Per-channel scales of channels whose weights all but vanished can be subnormal (person-lite-int8 had four,
    # down to 1.2e-39): the slow path on Intel again (segblur.denormals). Their channels dequantise to ~0 anyway.
    flush_denormals(q)
    fast_softmax(q)  # a source exported before segblur.fastsoftmax still has ONNX Runtime's slow channel Softmax
    return _write_checked(q.SerializeToString(), dst)


def _name_nodes(model) -> None:
    """Give every unnamed node of an ONNX model a unique name."""
    taken = {n.name for n in model.graph.node if n.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{i}"
            while name in taken:
                name += "_"
            node.name = name
            taken.add(name)


def _write_checked(data: bytes, dst: Path) -> Path:
    """Write ``data`` atomically to ``dst``, after checking that the runtime loads it."""

    def loads(tmp: Path) -> None:
        try:
            OnnxModel(tmp, providers=["CPUExecutionProvider"])
        except ModelError as e:
            raise QuantizeError(f"{dst}: the quantised model does not load ({str(e).split(': ', 1)[-1]})") from None

    write_atomic(dst, data, check=loads)
    return dst
