"""Speed of the page of ``segblur serve`` in headless Chromium, beside the Python runtime, in one run on one machine.

For each built-in model: the page plays the benchmark frame (the sample photo framed at --size, the frame
``segblur benchmark`` uses) from Chromium's fake camera; after a warm-up the frames the page draws are counted over
--seconds, with the page's own median inference and frame milliseconds and the CPU time of all Chromium processes.
The page runs once per --threads setting (WebAssembly SIMD; more than one thread needs the cross-origin isolation
segblur serve provides). Then ``Pipeline(model, temporal=True)`` (what the camera loop runs) is timed on the same frame
with ``segblur.bench.run.time_pipeline``, and the MediaPipe-style reference when --reference is given.

    python benchmarks/web_speed.py [--size 1280x720] [--seconds 20] [--threads 2 1] [--reference TFLITE] [--json F]

Needs Chromium, the playwright package and the onnxruntime-web files (make web).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from segblur.bench.run import machine, make_frame, time_pipeline, time_reference
from segblur.cli.common import size
from segblur.names import builtin_models
from segblur.runtime.pipeline import Pipeline
from segblur.web import browser
from segblur.web.server import make_server, serve_in_thread

TICK = os.sysconf("SC_CLK_TCK")


def descendants_cpu_s(root: int) -> float:
    """User + system CPU seconds of every live process below ``root`` (Chromium runs under Playwright's driver)."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(p.name))
        times[int(p.name)] = (int(fields[11]) + int(fields[12])) / TICK
    total, todo = 0.0, list(children.get(root, []))
    while todo:
        pid = todo.pop()
        total += times.get(pid, 0.0)
        todo += children.get(pid, [])
    return total


def measure_page(chromium: Any, url: str, seconds: float, warmup_frames: int) -> dict[str, Any]:
    """Frames per second drawn by the page, its median inference/frame ms, and Chromium's CPU ms per frame."""
    page = browser.open_page(chromium, url)
    browser.wait_frames(page, warmup_frames, "camera", timeout_s=600)
    s0, c0, t0 = browser.stats(page), descendants_cpu_s(os.getpid()), time.perf_counter()
    inference, frame_ms = [], []
    while time.perf_counter() - t0 < seconds:
        time.sleep(0.5)
        s = browser.stats(page)
        inference.append(s["inferenceMs"])
        frame_ms.append(s["frameMs"])
    s1, c1, t1 = browser.stats(page), descendants_cpu_s(os.getpid()), time.perf_counter()
    frames = s1["frames"] - s0["frames"]
    page.close()
    return {"fps": frames / (t1 - t0), "frames": frames, "inference_ms": statistics.median(inference),
            "frame_ms": statistics.median(frame_ms), "cpu_ms_per_frame": 1000 * (c1 - c0) / max(frames, 1),
            "stages_ms": s1["stages"], "backend": s1["backend"], "threads": s1["threads"], "simd": s1["simd"],
            "isolated": s1["isolated"],
            "size": f"{s1['width']}x{s1['height']}", "onnxruntime_web": s1["onnxruntimeWeb"]}


def measure_python(model: str, frame, repeats: int) -> dict[str, float]:
    pipe = Pipeline(model, temporal=True)
    t = time_pipeline(pipe, frame, repeats=repeats)
    return {"segment_ms": t["segment"], "total_ms": t["total"], "fps": 1000 / t["total"], "cpu_ms_per_frame": t["cpu"],
            "stages_ms": t}


def table(results: dict[str, Any]) -> str:
    lines = ["| model | runs in | threads | inference ms | frame ms | fps | CPU ms/frame |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for model, r in results["models"].items():
        for p in r["page"]:
            kind = "WebAssembly SIMD" if p["simd"] else "WebAssembly"
            lines.append(f"| {model} | page, Chromium ({kind}) | {p['threads']} | {p['inference_ms']:.1f} | "
                         f"{p['frame_ms']:.1f} | {p['fps']:.1f} | {p['cpu_ms_per_frame']:.1f} |")
        py = r["python"]
        lines.append(f"| {model} | Python runtime | {results['python_threads']} | {py['segment_ms']:.1f} | "
                     f"{py['total_ms']:.1f} | {py['fps']:.1f} | {py['cpu_ms_per_frame']:.1f} |")
    if "reference" in results:
        ref = results["reference"]
        lines.append(f"| MediaPipe selfie (reference) | Python, LiteRT | default | {ref['segment']:.1f} | "
                     f"{ref['total']:.1f} | {1000 / ref['total']:.1f} | |")
    # Where a frame's time goes (medians, ms); the page's "segment" is its model input and output handling.
    names = ["grab", "segment", "inference", "refine", "effect", "compose", "draw"]
    lines += ["", "| model | runs in | threads | " + " | ".join(names) + " |", "|---|---|---:|" + "---:|" * len(names)]
    for model, r in results["models"].items():
        for p in r["page"]:
            cells = " | ".join(f"{p['stages_ms'].get(n, 0):.1f}" for n in names)
            lines.append(f"| {model} | page | {p['threads']} | {cells} |")
        py = r["python"]["stages_ms"]
        cells = " | ".join(f"{py[n]:.1f}" if n in py else "" for n in names)
        lines.append(f"| {model} | Python (segment includes inference) | {results['python_threads']} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=size, default=(1280, 720), help="camera frame WxH (default 1280x720)")
    ap.add_argument("--seconds", type=float, default=20.0, help="measured seconds per page run (default 20)")
    ap.add_argument("--warmup", type=int, default=10, help="frames drawn before measuring (default 10)")
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1], help="page WebAssembly threads to run")
    ap.add_argument("--models", nargs="+", default=builtin_models())
    ap.add_argument("--repeats", type=int, default=100, help="Python frames timed per model (default 100)")
    ap.add_argument("--reference", type=Path, default=None, help="selfie_segmentation.tflite for the reference")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)

    frame = make_frame(args.size)
    results: dict[str, Any] = {"machine": machine(), "size": f"{args.size[0]}x{args.size[1]}",
                               "chromium": browser.find_chromium(), "load_before": os.getloadavg(),
                               "python_threads": os.cpu_count(), "models": {}}
    server = make_server(port=0)
    serve_in_thread(server)
    with tempfile.TemporaryDirectory() as tmp:
        clip = browser.write_y4m(Path(tmp) / "frame.y4m", [frame] * 30)
        with browser.chromium(clip) as chromium:
            for model in args.models:
                pages = []
                for threads in args.threads:
                    pages.append(measure_page(chromium, f"{server.url}?model={model}&threads={threads}",
                                              args.seconds, args.warmup))
                    print(f"{model}: page {pages[-1]}", file=sys.stderr)
                results["models"][model] = {"page": pages, "python": measure_python(model, frame, args.repeats)}
                print(f"{model}: python {results['models'][model]['python']}", file=sys.stderr)
    server.shutdown()
    if args.reference:
        results["reference"] = time_reference(args.reference, frame, args.repeats)
    results["load_after"] = os.getloadavg()
    print(table(results))
    print(f"\nload average before/after: {results['load_before']} / {results['load_after']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
