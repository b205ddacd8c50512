"""End-to-end speed of ``segblur video``: a synthetic 1080p clip with audio through ``process_video``.

    python benchmarks/video_speed.py --frames 150 [--size 1920x1080] [--fps 30] [--clip clip.mp4]
                                     [--model default] [--effect blur] [--preset veryfast] [--threads N]
                                     [--workers N] [--cores N] [--repeat 3] [--serial]

The clip is the bundled sample photo (a person) sliding over a panning, mirrored copy of itself
with a little sensor noise, encoded like a phone video (H.264 CRF 20, AAC stereo). ``--clip``
keeps it for later runs. Prints frames per second, the multiple of real time (video seconds per
wall-clock second), the mean milliseconds per frame of each stage and the CPU per frame of each
kind of thread (on Linux). Stages run in parallel threads, so their sum exceeds the wall-clock
time per frame. ``--workers`` sets the frames the model works on at once, ``--cores`` pins the
run to that many cores (how the frame rate scales). ``--serial`` runs the old one-thread
loop for comparison (decode, process and encode one after the other). The CPU time per frame of
all threads gives an upper bound for a machine whose cores are free, useful when other jobs share it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from segblur import Pipeline
from segblur.assets import sample_path
from segblur.media import video
from segblur.runtime.subject import SubjectConfig


def scene(width: int, height: int, frames: int) -> list[np.ndarray]:
    """RGB frames: the sample person moving left and right over a slowly panning textured background."""
    photo = cv2.cvtColor(cv2.imread(str(sample_path())), cv2.COLOR_BGR2RGB)
    person = cv2.resize(photo, (height, height), interpolation=cv2.INTER_CUBIC)
    wall = np.concatenate([photo, photo[:, ::-1]], axis=1)  # a seamless horizontal tile
    wall = cv2.resize(wall, (2 * height, height), interpolation=cv2.INTER_CUBIC)
    wall = np.tile(wall, (1, width // (2 * height) + 2, 1))
    rng = np.random.default_rng(0)
    noise = [rng.normal(0, 3, (height, width, 3)).astype(np.int16) for _ in range(4)]
    out = []
    span = max(1, width - height)
    for i in range(frames):
        frame = wall[:, (2 * i) % (2 * height):][:, :width].astype(np.int16)
        x = int(span * (0.5 + 0.5 * np.sin(i / 30.0)))
        frame[:, x:x + height] = person
        out.append(np.clip(frame + noise[i % len(noise)], 0, 255).astype(np.uint8))
    return out


def make_clip(path: Path, frames: int, width: int, height: int, fps: Fraction) -> Path:
    """Encode the scene to ``path`` (H.264 + AAC) unless it already exists."""
    if path.exists():
        return path
    import av

    print(f"video_speed: synthesising {frames} frames at {width}x{height} -> {path}", file=sys.stderr)
    tmp = path.with_name(path.name + ".part")
    with av.open(str(tmp), "w", format="mp4") as c:
        vs = c.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.codec_context.options = {"crf": "20", "preset": "veryfast"}
        aus = c.add_stream("aac", rate=48000)
        aus.layout = "stereo"
        for i, rgb in enumerate(scene(width, height, frames)):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts = i
            c.mux(vs.encode(f))
        c.mux(vs.encode(None))
        n = int(48000 * frames / fps)
        t = np.arange(n) / 48000
        wave = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for k in range(0, n, 1024):
            chunk = np.ascontiguousarray(np.stack([wave[k:k + 1024]] * 2))
            a = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            a.sample_rate, a.pts, a.time_base = 48000, k, Fraction(1, 48000)
            c.mux(aus.encode(a))
        c.mux(aus.encode(None))
    tmp.replace(path)
    return path


X264_SETTINGS = "veryfast, subme=1, CRF 23 (segblur's default for libx264)"


class ThreadCPU:
    """CPU seconds of each thread of this process while the block runs (Linux: /proc/self/task), grouped by role:
    the pipeline (this thread), decode, encode, model workers, FFmpeg's decoder threads, and the rest (x264's
    own threads, OpenCV's pool). Threads are sampled every 50 ms, so one that lives less than that is missed."""

    ROLES = (("segblur-video-decode", "decode"), ("segblur-video-encode", "encode (+ I420)"),
             ("segblur-model", "model workers"), ("MainThread", "pipeline"))

    def __init__(self) -> None:
        self.last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self.names: dict[int, str] = {}

    def _read(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        for t in threading.enumerate():
            if t.native_id is not None:
                self.names[t.native_id] = t.name
        for tid in os.listdir("/proc/self/task"):
            try:
                comm = Path(f"/proc/self/task/{tid}/comm").read_text().strip()
                fields = Path(f"/proc/self/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            self.last[int(tid)] = (comm, (int(fields[11]) + int(fields[12])) / tick)

    def _sample(self) -> None:
        while not self._stop.wait(0.05):
            self._read()

    def __enter__(self) -> ThreadCPU:
        if Path("/proc/self/task").is_dir():
            self._read()
            self.start = dict(self.last)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join()
            self._read()

    def groups(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for tid, (comm, cpu) in self.last.items():
            if tid == threading.get_native_id() and tid not in self.names:
                continue
            used = cpu - self.start.get(tid, (comm, 0.0))[1]
            name = self.names.get(tid, "")
            role = next((r for prefix, r in self.ROLES if name.startswith(prefix)), None)
            if role is None:
                role = "FFmpeg decoder threads" if comm.startswith("av:") else "other (x264's threads, OpenCV's)"
            if name.startswith("Thread-") and role.startswith("other"):  # our own sampler
                continue
            out[role] = out.get(role, 0.0) + used
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150)
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--fps", type=Fraction, default=Fraction(30))
    ap.add_argument("--clip", type=Path, default=None, help="reuse/keep the synthetic clip here")
    ap.add_argument("--model", default="default")
    ap.add_argument("--effect", default="blur")
    ap.add_argument("--preset", default=None, help="x264 preset (default: segblur's)")
    ap.add_argument("--threads", type=int, default=1,
                    help="ONNX Runtime threads per model run (default 1, as segblur video uses with --workers)")
    ap.add_argument("--workers", type=int, default=None,
                    help="frames the model works on at once (default: process_video's, the cores up to 4)")
    ap.add_argument("--cores", type=int, default=None, help="run on the first N cores only (scaling runs)")
    ap.add_argument("--repeat", type=int, default=1, help="runs; the median is reported")
    ap.add_argument("--serial", action="store_true", help="decode, process and encode in one thread")
    args = ap.parse_args(argv)
    if args.cores:
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: args.cores])
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(args.clip or Path(tmp) / "clip.mp4", args.frames, width, height, args.fps)
        info = video.probe_video(clip)
        # segblur video's defaults: two-way smoothing (temporal=True: lookahead 8) and the subject followed
        pipe = Pipeline(args.model, effect=args.effect, threads=args.threads, temporal=True,
                        subject=SubjectConfig(follow=True))
        options = {"preset": args.preset} if args.preset else None
        runs, cpu, groups = [], [], []
        for _ in range(args.repeat):
            with ThreadCPU() as by_thread:
                c0 = time.process_time()  # CPU time of every thread of this process (ORT's and x264's too)
                runs.append(video.process_video(clip, Path(tmp) / "out.mp4", pipe, options=options,
                                                threads=not args.serial, workers=args.workers))
                cpu.append((time.process_time() - c0) * 1e3 / runs[-1].frames)
            groups.append({k: v * 1e3 / runs[-1].frames for k, v in by_thread.groups().items()})
        middle = sorted(range(len(runs)), key=lambda i: runs[i].seconds)[len(runs) // 2]
        stats, cpu_ms = runs[middle], statistics.median(cpu)
    rate = stats.frames / stats.seconds
    realtime = stats.duration / stats.seconds
    print(f"{info.width}x{info.height} {float(info.fps):g} fps, {stats.frames} frames, model {args.model}, "
          f"effect {args.effect}, {'serial' if args.serial else 'threaded'}, {stats.workers} model worker(s) "
          f"with {args.threads or 'all'} ONNX Runtime thread(s), x264 {args.preset or X264_SETTINGS}"
          + (f", {args.repeat} runs (median; all: {', '.join(f'{s.rate:.1f}' for s in runs)} fps)"
             if args.repeat > 1 else ""))
    print(f"  {rate:.1f} frames/s, {realtime:.2f}x real time ({1e3 / rate:.1f} ms per frame wall-clock)")
    print("  stage ms/frame (wall clock, in parallel threads): "
          + ", ".join(f"{k} {v:.1f}" for k, v in stats.stage_ms.items()))
    if groups[middle]:
        print("  CPU ms/frame by thread: " + ", ".join(f"{k} {v:.1f}" for k, v in groups[middle].items()))
    cores = len(os.sched_getaffinity(0))
    print(f"  CPU {cpu_ms:.1f} ms per frame (all threads); ideal overlap on {cores} free cores: "
          f"{cores * 1e3 / cpu_ms:.1f} frames/s = {cores * 1e3 / cpu_ms / rate * realtime:.2f}x real time. "
          f"Load average now {os.getloadavg()[0]:.1f}")
    if len(runs) > 1:
        print(f"  spread: {statistics.pstdev([s.rate for s in runs]):.2f} frames/s (population s.d.)")
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    code = main()
    print(f"  ({time.perf_counter() - t0:.0f} s in all)", file=sys.stderr)
    sys.exit(code)
