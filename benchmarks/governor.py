"""What the compute governor saves, and what it costs in quality: a still talking head and a spinning dancer.

    python benchmarks/governor.py [--size 1280x720] [--seconds 10] [--max-cpu PCT] [--davis ../shared/data/...]
                                  [--model default] [--json out.json]

1. **Talking head**: the bundled sample photo at ``--size``, with fresh sensor noise (sigma 2.5) on every
   frame, the person swaying by up to 3 px and nodding by up to 4 px now and then, still in between (30 fps).
   The ungoverned pipeline (temporal smoothing on, as ``segblur camera`` runs) and the governed one get the
   same frames in turn; the table gives each one's process CPU time per frame and the share of one core at
   30 fps, and the IoU of the governed mask against the ungoverned one (alpha >= 0.5), frame by frame.
2. **Motion** (``--davis``, default ``../shared/data/davis-dance-twirl``): the 90 frames in order, both
   pipelines; person IoU against the hand-drawn masks inside the region around the dancer
   (:mod:`segblur.eval.regions`), so that the spectators a person model rightly finds do not count.

The governor's own choices (steps per frame, the model it timed cheapest) are printed. CPU is measured
with ``time.process_time`` (every thread of this process), so other jobs on the machine barely move it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from segblur import Pipeline
from segblur.bench.run import core_share, make_frame
from segblur.eval.metrics import binary_iou
from segblur.eval.regions import subject_region
from segblur.runtime.governor import GovernorConfig

ROOT = Path(__file__).resolve().parents[1]
FPS = 30.0


def motion(t: float) -> tuple[float, float]:
    """The person's offset (dx, dy) in pixels at time ``t`` seconds: still, a sway, still, a nod, ... (10 s cycle)."""
    t = t % 10.0
    if 2.0 <= t < 5.0:  # a slow sway, 1.5 periods
        return 3.0 * np.sin(2 * np.pi * (t - 2.0) / 2.0), 0.0
    if 7.0 <= t < 8.0:  # a nod
        return 0.0, 4.0 * np.sin(np.pi * (t - 7.0))
    return 0.0, 0.0


class TalkingHead:
    """Frames of the sample photo whose person (cut out with the ungoverned model's matte) moves by :func:`motion`."""

    def __init__(self, size: tuple[int, int], model: str, noise: float = 2.5, seed: int = 0) -> None:
        self.base = make_frame(size)
        alpha = Pipeline(model).mask(self.base)
        self.alpha = cv2.GaussianBlur(alpha, (0, 0), 1.0)[..., None]
        rng = np.random.default_rng(seed)
        self.noise = [np.rint(rng.normal(0, noise, self.base.shape)).astype(np.int16) for _ in range(8)]

    def frame(self, i: int) -> np.ndarray:
        dx, dy = motion(i / FPS)
        img = self.base.astype(np.float32)
        if dx or dy:
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            h, w = img.shape[:2]
            person = cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)
            a = cv2.warpAffine(self.alpha, m, (w, h))[..., None]
            img = person * a + img * (1 - a)
        noisy = np.rint(img).astype(np.int16) + self.noise[i % len(self.noise)]
        return np.clip(noisy, 0, 255).astype(np.uint8)


def run_pair(frames, pipes: dict[str, Pipeline], truth=None) -> dict:
    """Each frame through each pipeline in turn: CPU per frame, masks compared with the first pipeline's
    (and with ``truth(i)`` inside the subject region when given)."""
    names = list(pipes)
    cpu = {n: [] for n in names}
    agree = {n: [] for n in names[1:]}
    scores = {n: [] for n in names}
    steps = {n: [] for n in names}
    for i, frame in enumerate(frames):
        masks = {}
        for n in names:
            c0 = time.process_time()
            pipes[n].process(frame)
            cpu[n].append(time.process_time() - c0)
            masks[n] = pipes[n].last_alpha8 >= 128
            steps[n].append(pipes[n].last_step)
        for n in names[1:]:
            agree[n].append(binary_iou(masks[names[0]], masks[n]))
        if truth is not None:
            gt = truth(i)
            region = subject_region(gt)
            for n in names:
                scores[n].append(binary_iou(gt[region], masks[n][region]))
    out = {}
    for n in names:
        c = 1e3 * float(np.mean(cpu[n]))
        out[n] = {"cpu_ms_per_frame": c, "cpu_percent_at_30fps": core_share(c, FPS),
                  "steps": {s: steps[n].count(s) for s in ("model", "hold", "reuse")}}
        if n in agree:
            out[n]["iou_vs_ungoverned_mean"] = float(np.mean(agree[n]))
            out[n]["iou_vs_ungoverned_min"] = float(np.min(agree[n]))
        if truth is not None:
            out[n]["iou_vs_truth_mean"] = float(np.mean(scores[n]))
    return out


def pipelines(model: str, governor: GovernorConfig) -> dict[str, Pipeline]:
    pipes = {"ungoverned": Pipeline(model, temporal=True), "governed": Pipeline(model, temporal=True,
                                                                              governor=governor)}
    return pipes


def print_table(title: str, r: dict) -> None:
    print(f"\n{title}")
    print("| pipeline | CPU ms/frame | % of a core at 30 fps | model / hold / reuse frames | IoU vs ungoverned "
          "(mean, min) | IoU vs truth |")
    print("|---|---:|---:|---|---:|---:|")
    for n, v in r.items():
        s = v["steps"]
        agree = f"{v['iou_vs_ungoverned_mean']:.4f}, {v['iou_vs_ungoverned_min']:.4f}" \
            if "iou_vs_ungoverned_mean" in v else ""
        truth = f"{v['iou_vs_truth_mean']:.4f}" if "iou_vs_truth_mean" in v else ""
        print(f"| {n} | {v['cpu_ms_per_frame']:.2f} | {v['cpu_percent_at_30fps']:.0f} | "
              f"{s['model']} / {s['hold']} / {s['reuse']} | {agree} | {truth} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="1280x720")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--model", default="default")
    ap.add_argument("--max-cpu", type=float, default=None, help="the governor's CPU budget, percent of one core")
    ap.add_argument("--davis", type=Path, default=ROOT.parent / "shared" / "data" / "davis-dance-twirl")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))
    config = GovernorConfig(fps=FPS, max_cpu=args.max_cpu)
    results = {}

    head = TalkingHead((w, h), args.model)
    pipes = pipelines(args.model, config)
    for p in pipes.values():  # warm up ONNX Runtime, then start the stream afresh
        p.process(head.frame(0))
        p.reset()
    n = round(args.seconds * FPS)
    results["talking_head"] = run_pair((head.frame(i) for i in range(n)), pipes)
    print_table(f"talking head, {w}x{h}, {n} frames at 30 fps (sway and nod, noise sigma 2.5)",
                results["talking_head"])
    print(f"governor: {pipes['governed'].governor.describe()}")

    images = sorted((args.davis / "images").glob("*.jpg"))
    if images:
        truth = [cv2.imread(str(args.davis / "masks" / f"{p.stem}.png"), cv2.IMREAD_GRAYSCALE) > 127 for p in images]
        frames = [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in images]
        pipes = pipelines(args.model, config)
        for p in pipes.values():
            p.process(frames[0])
            p.reset()
        results["davis"] = run_pair(frames, pipes, truth=lambda i: truth[i])
        print_table(f"davis-dance-twirl, {len(frames)} frames in order (IoU inside the region around the dancer)",
                    results["davis"])
        print(f"governor: {pipes['governed'].governor.describe()}")
    else:
        print(f"\n{args.davis}: no frames; motion check skipped", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
