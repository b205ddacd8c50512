"""StreamStats: what a live stream did, frame counts and milliseconds per stage, live and at the end."""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HISTORY = 100_000  # per-frame timings kept for the final percentiles (the most recent ones)
LIVE = 30  # recent frames the live figures (overlay, progress line) are medians over
STAGES = ("wait", "segment", "refine", "effect", "compose", "output")
LIVE_STAGES = STAGES[1:-1]  # the pipeline's own stages, shown live


@dataclass
class StreamStats:
    """Counts and per-frame milliseconds of one stream. ``captured == shown + dropped`` once it has ended.

    Stages: ``wait`` (frame age when inference takes it), the pipeline's own stages, ``output``
    (inference end to all sinks done); ``latency`` is capture to output end.
    """

    captured: int = 0
    shown: int = 0
    dropped: int = 0
    stale: int = 0  # of the dropped: replaced by a newer frame before inference took them
    ended: str = ""  # frames | end | quit | lost | interrupted
    message: str = ""  # why the source was lost
    first_output: float | None = None
    last_output: float | None = None
    # CPU time of the whole process (every thread: capture, ONNX Runtime, OpenCV, outputs) over the wall-clock time
    # of the stream, set by run_stream at the end: what the stream took from the machine.
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    times: dict[str, deque[float]] = field(default_factory=dict)
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=LIVE))  # output times, for the live fps

    def add(self, name: str, ms: float) -> None:
        self.times.setdefault(name, deque(maxlen=HISTORY)).append(ms)

    def fps(self) -> float:
        """Frames shown per second, from the first to the last output."""
        if self.first_output is None or self.last_output is None or self.shown < 2:
            return 0.0
        return (self.shown - 1) / max(self.last_output - self.first_output, 1e-9)

    def live_fps(self) -> float:
        """Frames per second over the last LIVE outputs."""
        if len(self.recent) < 2:
            return 0.0
        return (len(self.recent) - 1) / max(self.recent[-1] - self.recent[0], 1e-9)

    def cpu_percent(self) -> float:
        """Average share of one CPU core the process used while streaming, in percent (200 = two cores busy)."""
        return 100.0 * self.cpu_seconds / self.wall_seconds if self.wall_seconds > 0 else float("nan")

    def cpu_ms_per_frame(self) -> float:
        """Process CPU milliseconds per frame shown (capture of dropped frames included)."""
        return 1e3 * self.cpu_seconds / self.shown if self.shown else float("nan")

    def percentile(self, name: str, q: float) -> float:
        """The ``q``-th percentile (0..100) of a stage's milliseconds; NaN when there is none."""
        values = self.times.get(name)
        return float(np.percentile(np.fromiter(values, float), q)) if values else float("nan")

    def medians(self) -> dict[str, float]:
        """Median milliseconds of every stage seen, in pipeline order."""
        order = [s for s in STAGES if s in self.times] + [s for s in self.times if s not in STAGES]
        return {s: statistics.median(self.times[s]) for s in order if s != "latency" and self.times[s]}

    def recent_median(self, name: str, n: int = LIVE) -> float:
        """Median milliseconds of a stage over its last ``n`` frames; NaN when there is none."""
        values = self.times.get(name)
        if not values:
            return float("nan")
        return statistics.median(values[i] for i in range(max(0, len(values) - n), len(values)))

    def live_stages(self) -> dict[str, float]:
        """Median ms over the recent frames of segment, refine, effect, compose and ``latency`` (capture to output)."""
        return {s: self.recent_median(s) for s in (*LIVE_STAGES, "latency") if self.times.get(s)}

    def stage_line(self) -> str:
        """Per-stage and end-to-end median latency over the recent frames, for the overlay and the progress line."""
        live = self.live_stages()
        if not live:
            return ""
        end = live.pop("latency", None)
        parts = [f"{k} {v:.1f}" for k, v in live.items()] + ([f"end-to-end {end:.0f}"] if end is not None else [])
        return "median ms: " + "  ".join(parts)

    def status_line(self) -> str:
        """One short line for the live overlay: fps, recent median latency, shown and dropped frames."""
        lat = self.recent_median("latency")
        ms = f"{lat:.0f} ms" if lat == lat else "-"
        return f"{self.live_fps():.1f} fps  latency {ms}  shown {self.shown}  dropped {self.dropped}"

    def summary(self) -> dict[str, Any]:
        """Everything as plain numbers (for --json and reports)."""
        return {"captured": self.captured, "shown": self.shown, "dropped": self.dropped, "stale": self.stale,
                "fps": self.fps(), "latency_median_ms": self.percentile("latency", 50),
                "latency_p95_ms": self.percentile("latency", 95), "stages_median_ms": self.medians(),
                "cpu_percent": self.cpu_percent(), "cpu_ms_per_frame": self.cpu_ms_per_frame(),
                "ended": self.ended, "message": self.message}
