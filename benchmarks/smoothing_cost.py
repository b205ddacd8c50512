"""CPU per frame of the stream stage's steps at the model's resolution: the temporal smoother without and with
optical flow, the two-way smoother of files, the subject tracker.

    python benchmarks/smoothing_cost.py [--size 192x192] [--frames 300] [--repeat 5]

A textured thumbnail panning 2 px a frame and its thresholded map stand for a moving scene (the flow has work to
do). OpenCV runs on one thread, so the figures are the work itself; the best and the median of ``--repeat`` runs
of ``--frames`` frames, in CPU milliseconds (``time.process_time``), are printed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from segblur.runtime.subject import SubjectConfig, SubjectTracker  # noqa: E402
from segblur.runtime.temporal import TemporalConfig, TemporalSmoother  # noqa: E402
from segblur.runtime.twoway import TwoWaySmoother  # noqa: E402

FRAME = (720, 1280, 3)  # the frame the maps stand for (only its shape matters here)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="192x192", help="map size WxH (the default model's input)")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    base = cv2.resize(rng.random((24, 24)).astype(np.float32), (w + 60, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)
    thumbs = [np.ascontiguousarray(base[:, 2 * i:2 * i + w]) for i in range(30)]
    probs = [(t > 0.5).astype(np.float32) for t in thumbs]
    before, flow = TemporalSmoother(TemporalConfig(flow=False, local_motion=0.1)), TemporalSmoother(TemporalConfig())
    twoway = TwoWaySmoother(TemporalConfig())
    tracker = SubjectTracker(SubjectConfig(follow=True), (w, h))
    steps = {
        "one-way, no optical flow (before)": lambda i: before.smooth(probs[i % 30], thumbs[i % 30], FRAME),
        "one-way, optical flow (the camera's)": lambda i: flow.smooth(probs[i % 30], thumbs[i % 30], FRAME),
        "two-way, lookahead 8 (a file's)": lambda i: twoway.push(probs[i % 30], thumbs[i % 30], FRAME),
        "subject follow: regions and the next crop": lambda i: tracker.observe(probs[i % 30], None, FRAME),
    }
    print(f"| step, {w}x{h} maps, one thread | CPU ms/frame, best | median |\n|---|---:|---:|")
    for name, step in steps.items():
        runs = []
        for _ in range(args.repeat):
            t0 = time.process_time()
            for i in range(args.frames):
                step(i)
            runs.append((time.process_time() - t0) / args.frames * 1e3)
        print(f"| {name} | {min(runs):.2f} | {statistics.median(runs):.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
