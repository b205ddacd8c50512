"""Speed of candidate person-model architectures, untrained: the network alone and the whole 720p frame.

    python benchmarks/arch_speed.py --reference .cache/reference/selfie_segmentation.tflite \\
        [--candidates NAME ...] [--repeats 60] [--rounds 3] [--json runs/arch_speed.json]
    python benchmarks/arch_speed.py --combine runs/arch_speed.json runs/arch_speed-2.json

Each candidate is built with random weights, exported as ``segblur export`` writes models (ONNX with the runtime's
metadata, checked against torch) and quantised with ``segblur.quantize_int8`` (static QDQ INT8, calibrated on the
bundled sample photo and flipped, cropped and darkened copies of it). Weights do not change the speed.

Per candidate and precision (fp32, INT8), in one process:
- *network*: ``OnnxModel.run`` on the preprocessed 720p frame (the session the runtime opens), median wall ms and
  mean CPU ms (process CPU time, all threads) per frame;
- *frame*: ``Pipeline(model, effect="blur").process`` on the 1280x720 frame of ``segblur benchmark``: median wall ms
  of the whole frame and of the segment stage, mean CPU ms per frame; then the MediaPipe-style reference
  (``bench.reference``) on the same frame right after it, and the ratio of the two totals.
Rounds interleave the candidates, so load from other processes spreads over all of them; each figure is the
median over rounds, and each ratio the median of per-round ratios (segblur / reference: below 1 is faster);
"cpu ratio" compares CPU time per frame, steadier than wall time when other processes load the machine.
``--combine A.json B.json`` pools the rounds of earlier runs into one table without measuring.
The shipped ``person-fast`` and ``person-fast-int8`` are timed the same way as the baseline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from segblur.assets import sample_path
from segblur.bench.run import machine, make_frame, time_pipeline, time_reference
from segblur.denormals import flush_denormals
from segblur.io import write_atomic
from segblur.media.images import read_image
from segblur.quantize import quantize_int8
from segblur.runtime.model import OnnxModel, resolve_model_path
from segblur.runtime.pipeline import Pipeline
from segblur.runtime.segmenter import make_blob
from segblur.training.data.transforms import MEAN, STD
from segblur.training.export import export_onnx
from segblur.training.models import create_model

LITE = "efficientnet_lite_seg"
# name -> (architecture, options, input (height, width)). Names: encoder/output stride, decoder width and finest
# stride, input size.
CANDIDATES: dict[str, tuple[str, dict[str, Any], tuple[int, int]]] = {
    "lite0/32 d64 f4 @256": (LITE, {"output_stride": 32, "decoder_width": 64}, (256, 256)),
    "lite0/16 d64 f4 @256": (LITE, {"decoder_width": 64}, (256, 256)),
    "lite0/16 d32 f4 @256": (LITE, {"decoder_width": 32}, (256, 256)),
    "lite0/16 d32 f2 @256": (LITE, {"decoder_width": 32, "decoder_finest": 2}, (256, 256)),
    "lite0/16 d32 f8 @256": (LITE, {"decoder_width": 32, "decoder_finest": 8}, (256, 256)),
    "lite0/16 d32 f4 @224": (LITE, {"decoder_width": 32}, (224, 224)),
    "lite0/16 d32 f4 @192": (LITE, {"decoder_width": 32}, (192, 192)),
    "lite0/16 d32 f4 @160": (LITE, {"decoder_width": 32}, (160, 160)),
    "lite0/16 d32 f4 @144x256": (LITE, {"decoder_width": 32}, (144, 256)),
    "lite0/16 d32 f4 @256x144": (LITE, {"decoder_width": 32}, (256, 144)),
    "lite0/32 d32 f4 @192": (LITE, {"output_stride": 32, "decoder_width": 32}, (192, 192)),
    "lite1/16 d32 f4 @256": (LITE, {"variant": "lite1", "decoder_width": 32}, (256, 256)),
    "lite2/16 d32 f4 @256": (LITE, {"variant": "lite2", "decoder_width": 32}, (256, 256)),
}
BASELINES = {"person-fast fp32": "person-fast", "person-fast int8": "person-fast-int8"}  # the shipped models


def calibration_images(folder: Path) -> list[Path]:
    """The bundled sample photo and a few altered copies of it (flips, crops, darker), written to ``folder``."""
    img = cv2.cvtColor(read_image(sample_path()), cv2.COLOR_RGB2BGR)
    h, w = img.shape[:2]
    variants = [img, img[:, ::-1], img[h // 4:, w // 8:w - w // 8], img[:h // 2 + h // 4], (img * 0.5).astype(np.uint8),
                cv2.resize(img[:, ::-1], (w // 2, h))]
    paths = []
    for i, v in enumerate(variants):
        paths.append(folder / f"calib{i}.png")
        cv2.imwrite(str(paths[-1]), np.ascontiguousarray(v))
    return paths


def build_candidate(name: str, folder: Path, calib: list[Path], int8: bool = True) -> dict[str, Path]:
    """Export candidate ``name`` (fp32) and its INT8 version into ``folder``; returns {precision: path}."""
    arch, options, (h, w) = CANDIDATES[name]
    torch.manual_seed(0)
    model = create_model(arch, num_classes=2, **options).eval()
    meta = {"format": 1, "name": name, "architecture": arch, "classes": ["background", "person"],
            "foreground": ["person"],
            "input": {"name": "image", "size": [h, w], "layout": "NCHW", "color": "RGB", "mean": list(MEAN),
                      "std": list(STD), "resize": "stretch"},
            "output": {"name": "probabilities", "kind": "probabilities"}, "data": "untrained (speed study)",
            "metrics": {}}
    stem = folder / name.replace("/", "-").replace(" ", "_").replace("@", "")
    out = {"fp32": export_onnx(model, stem.with_suffix(".onnx"), meta)}
    if int8:
        out["int8"] = quantize_int8(out["fp32"], stem.with_name(stem.name + "-int8.onnx"), calib)
    return out


def time_network(path: Path, frame: np.ndarray, repeats: int, threads: int | None = None) -> dict[str, float]:
    """Median wall ms and mean CPU ms per ``OnnxModel.run`` on ``frame``'s blob (``threads``: ORT's intra-op)."""
    model = OnnxModel(path, threads=threads)
    blob = make_blob(frame, model.info).copy()
    for _ in range(5):
        model.run(blob)
    walls = []
    c0 = time.process_time()
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.run(blob)
        walls.append(time.perf_counter() - t0)
    return {"net ms": 1000 * statistics.median(walls), "net cpu ms": 1000 * (time.process_time() - c0) / repeats}


def time_frame(model: Path | str, frame: np.ndarray, repeats: int, reference: Path) -> dict[str, float]:
    """Whole-frame Pipeline timings of ``model`` and of the reference right after, with CPU ms per frame."""
    pipe = Pipeline(model, effect="blur")
    seg = time_pipeline(pipe, frame, repeats)
    ref = time_reference(reference, frame, repeats)
    return {"segment ms": seg["segment"], "frame ms": seg["total"], "frame cpu ms": seg["cpu"],
            "ref frame ms": ref["total"], "ref segment ms": ref["segment"], "ref cpu ms": ref["cpu"],
            "ratio": seg["total"] / ref["total"]}


def size_of(name: str) -> dict[str, float]:
    """Millions of parameters and of multiply-adds (convolutions) per frame of candidate ``name``."""
    arch, options, (h, w) = CANDIDATES[name]
    model = create_model(arch, num_classes=2, **options).eval()
    macs = []

    def count(m: torch.nn.Conv2d, _inp: Any, out: torch.Tensor) -> None:
        macs.append(out.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1])

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, h, w))
    for hook in hooks:
        hook.remove()
    return {"params M": sum(p.numel() for p in model.parameters()) / 1e6, "MMAC": sum(macs) / 1e6}


def flushed_copy(model: str, folder: Path) -> Path:
    """A copy of a shipped model with its subnormal weights zeroed, as ``export`` now writes models."""
    import onnx

    proto = onnx.load(str(resolve_model_path(model)))
    flush_denormals(proto)
    path = folder / f"{model}-flushed.onnx"
    onnx.save(proto, str(path))
    return path


def summarise(runs: dict[str, list[dict[str, float]]], sizes: dict[str, dict[str, float]]) -> dict[str, dict]:
    """Per model: sizes, and the median over rounds of each timing; "cpu ratio" is the median per-round ratio of
    CPU time per frame (segblur / reference), steadier than wall time on a loaded machine."""
    rows = {}
    for key, rs in runs.items():
        for run in rs:
            if "frame cpu ms" in run and "ref cpu ms" in run:
                run["cpu ratio"] = run["frame cpu ms"] / run["ref cpu ms"]
        cols = [c for c in rs[0] if all(c in run for run in rs)]
        rows[key] = {**sizes.get(key, {}), "rounds": len(rs), **{c: statistics.median(run[c] for run in rs)
                                                                 for c in cols}}
    return rows


def format_rows(rows: dict[str, dict[str, float]]) -> str:
    """Markdown table of the medians."""
    cols = ["MMAC", "params M", "net ms", "net cpu ms", "segment ms", "frame ms", "frame cpu ms", "ref frame ms",
            "ref cpu ms", "ratio", "cpu ratio"]
    lines = ["| model | precision | " + " | ".join(cols) + " |", "|---|---|" + "---:|" * len(cols)]
    for key, r in rows.items():
        name, precision = key.rsplit(" ", 1)
        cells = [f"{r[c]:.2f}" if c in r else "" for c in cols]
        lines.append(f"| {name} | {precision} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def measure(args: argparse.Namespace, frame: np.ndarray) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """Export the candidates and time them (and the baselines) in interleaved rounds; returns (runs, sizes)."""
    with tempfile.TemporaryDirectory(prefix="segblur-arch-speed-") as tmp:
        folder = Path(tmp)
        calib = calibration_images(folder)
        models: dict[str, Path] = {}
        sizes: dict[str, dict[str, float]] = {}
        for name in args.candidates:
            print(f"exporting {name}", file=sys.stderr)
            built = build_candidate(name, folder, calib, int8="int8" in args.precision)
            size = size_of(name)  # the network's, the same for every precision
            for precision in args.precision:
                models[f"{name} {precision}"] = built[precision]
                sizes[f"{name} {precision}"] = size
        if not args.no_baseline:
            models.update({key: resolve_model_path(model) for key, model in BASELINES.items()
                           if key.split()[-1] in args.precision})
            if "fp32" in args.precision:
                models["person-fast, subnormals zeroed fp32"] = flushed_copy("person-fast", folder)
        runs: dict[str, list[dict[str, float]]] = {key: [] for key in models}
        for r in range(args.rounds):
            for key, path in models.items():
                print(f"round {r + 1}/{args.rounds}: {key}", file=sys.stderr)
                run = time_network(path, frame, args.repeats, args.network_threads)
                if not args.network_only:
                    run.update(time_frame(path, frame, args.repeats, args.reference))
                runs[key].append(run)
    return runs, sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reference", type=Path, help="MediaPipe selfie_segmentation.tflite (needed to measure)")
    ap.add_argument("--candidates", nargs="+", default=list(CANDIDATES), choices=list(CANDIDATES),
                    metavar="NAME", help="candidates to time (default: all)")
    ap.add_argument("--no-baseline", action="store_true", help="leave out person-fast and person-fast-int8")
    ap.add_argument("--precision", nargs="+", default=["fp32", "int8"], choices=["fp32", "int8"])
    ap.add_argument("--repeats", type=int, default=60, help="frames per timing (default 60)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    ap.add_argument("--network-only", action="store_true", help="time the networks alone (no frames, no reference)")
    ap.add_argument("--network-threads", type=int, default=None,
                    help="ONNX Runtime threads for the network timing (default: the runtime's, all cores)")
    ap.add_argument("--size", default="1280x720", help="frame size WxH (default 1280x720)")
    ap.add_argument("--json", type=Path, default=None, help="write every measurement here")
    ap.add_argument("--combine", type=Path, nargs="+", metavar="JSON",
                    help="measure nothing: pool the rounds of earlier --json files and print their table")
    args = ap.parse_args(argv)
    if args.combine:
        runs, sizes, info = {}, {}, {}
        for path in args.combine:
            saved = json.loads(path.read_text())
            info = saved["machine"]
            for key, rs in saved["runs"].items():
                runs.setdefault(key, []).extend(rs)
                sizes[key] = {k: saved["rows"][key][k] for k in ("params M", "MMAC") if k in saved["rows"][key]}
        print(f"pooled rounds of {', '.join(str(p) for p in args.combine)}; {info.get('cpu')}, "
              f"{info.get('cores')} cores, onnxruntime {info.get('onnxruntime')}")
        print(format_rows(summarise(runs, sizes)))
        return 0
    if args.reference is None or not args.reference.is_file():
        print(f"arch_speed: {args.reference}: not found (python benchmarks/fetch_reference.py)", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    w, h = (int(v) for v in args.size.lower().split("x"))
    runs, sizes = measure(args, make_frame((w, h)))
    info = machine()
    print(f"{w}x{h} frame, blur; median of {args.rounds} rounds x {args.repeats} frames; {info['cpu']}, "
          f"{info['cores']} cores, onnxruntime {info['onnxruntime']}")
    rows = summarise(runs, sizes)
    print(format_rows(rows))
    if args.json:
        write_atomic(args.json, json.dumps({"size": [w, h], "repeats": args.repeats, "rounds": args.rounds,
                                            "machine": info, "rows": rows, "runs": runs}, indent=2).encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
