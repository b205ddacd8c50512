"""A compute governor for streams: do on each frame only the work it needs, within a CPU or frame-rate budget.

A talking head in a video call hardly changes from one frame to the next, yet a pipeline runs the model
and every full-resolution pass on each frame. The governor looks at a cheap thumbnail of each frame
(1/8 of the size, box-filtered) and picks one of three steps for :class:`~segblur.runtime.pipeline.Pipeline`:

* ``MODEL``: segment the frame (the temporal smoothing carries on from the last frame the model saw);
* ``HOLD``: the scene moved a little since the model last ran: keep the smoothed probability, but refine
  it on this frame's own edges (the guided filter follows a few pixels of motion) and redo the effect;
* ``REUSE``: nothing moved since the last rendered frame: composite this frame with the last matte and
  background (the frame's own pixels still show: a speaking mouth, noise).

Change is measured against the thumbnail of the frame each step last ran on, after taking out a
change of overall brightness per channel (auto exposure does not move anyone), as the largest
3x3-averaged difference in levels of any channel, above the sensor noise measured from frame to frame. The model runs at
least every ``interval`` frames whatever happens, and a large change always runs it: no lag on motion.

With a budget (``max_cpu``: percent of one core; ``target_fps``: frames per second the pipeline must
keep up with) the governor also, once at the start, times the model against its INT8 twin
(``<name>-int8.onnx`` beside it, as ``person-fast-int8`` is) with one thread and with ONNX Runtime's
default, and takes the cheapest in CPU that is fast enough; and while streaming it raises its
thresholds and the model interval step by step (``level``) while over budget, and lowers them again
when well under. Every choice is counted and reported (:meth:`Governor.summary`, :meth:`Governor.describe`).
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .resize import downscale
from .segmenter import Segmenter

MODEL, HOLD, REUSE = "model", "hold", "reuse"
STEPS = (MODEL, HOLD, REUSE)
THUMB = 8  # the thumbnail is 1/THUMB of the frame in each direction
WINDOW = 30  # frames the budget is measured over (one second at 30 fps)
SETTLE = 15  # frames between two level changes
NOISE_EVERY = 4  # frames between two measurements of the sensor noise (a slow average; 0.3 ms each at 720p)


@dataclass(frozen=True)
class GovernorConfig:
    """How much work the governor may skip. Thresholds are in 8-bit levels of the thumbnail (see the module).

    still: largest change since the last rendered frame that reuses its matte and background.
    hold: largest change since the model last ran that keeps its probability (refined on the new frame).
    interval: the model runs at least once every ``interval`` frames (15: twice a second at 30 fps).
    max_cpu: budget in percent of one core (100 = one core); target_fps: frames per second to keep up with.
    fps: the stream's frame rate, to turn CPU per frame into a share; None measures the share directly
    (CPU time over wall-clock time: right for a camera, not for frames fed as fast as they go).
    choose_model/choose_threads: with a budget, time the INT8 twin and one thread against the defaults.
    max_level: how far a budget may raise the thresholds (each level doubles ``hold`` and ``interval``).
    """

    still: float = 1.0
    hold: float = 6.0
    interval: int = 15
    max_cpu: float | None = None
    target_fps: float | None = None
    fps: float | None = None
    choose_model: bool = True
    choose_threads: bool = True
    max_level: int = 3

    def __post_init__(self) -> None:
        for name in ("still", "hold"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"governor {name} must be a finite number >= 0, got {v!r}")
        if self.hold < self.still:
            raise ValueError(f"governor hold ({self.hold}) must be at least still ({self.still})")
        if not (isinstance(self.interval, int) and self.interval >= 1):
            raise ValueError(f"governor interval must be a whole number >= 1, got {self.interval!r}")
        for name in ("max_cpu", "target_fps", "fps"):
            v = getattr(self, name)
            if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ValueError(f"governor {name} must be a positive number, got {v!r}")
        if not (isinstance(self.max_level, int) and self.max_level >= 0):
            raise ValueError(f"governor max_level must be a whole number >= 0, got {self.max_level!r}")

    @property
    def budgeted(self) -> bool:
        return self.max_cpu is not None or self.target_fps is not None


def thumbnail(rgb: np.ndarray) -> np.ndarray:
    """The thumbnail changes are measured on: 1/:data:`THUMB` size, box-filtered, float32 RGB levels.

    Colour, not grey: a red sleeve over a grey wall of the same brightness moves in colour only.
    """
    h, w = rgb.shape[:2]
    return downscale(rgb, (max(1, w // THUMB), max(1, h // THUMB))).astype(np.float32)


def change(thumb: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-pixel change between two thumbnails in levels: each channel's overall gain taken out (auto exposure,
    white balance), the largest channel, 3x3-averaged."""
    means, ref_means = cv2.mean(thumb)[:3], cv2.mean(ref)[:3]
    gain = tuple(r / max(m, 1e-3) for r, m in zip(ref_means, means)) + (0.0,)
    r, g, b = cv2.split(cv2.absdiff(cv2.multiply(thumb, gain), ref))  # OpenCV: numpy's max(axis=2) took 1.8 ms
    return cv2.blur(cv2.max(cv2.max(r, g), b), (3, 3), borderType=cv2.BORDER_REPLICATE)


class Governor:
    """Per-frame decisions for one stream (see the module); :meth:`reset` starts a new stream."""

    def __init__(self, config: GovernorConfig | None = None) -> None:
        self.config = config or GovernorConfig()
        self.counts = dict.fromkeys(STEPS, 0)
        self.level = 0
        self.level_changes = 0
        self.choice = ""  # what setup chose (model, threads) and why; empty without a budget
        self._costs: collections.deque[tuple[float, float]] = collections.deque(maxlen=WINDOW)
        self._busy: collections.deque[float] = collections.deque(maxlen=WINDOW)
        self._clock: tuple[float, float] | None = None
        self._since_level = 0
        self.reset()

    def reset(self) -> None:
        """A new stream: the next frame runs the model. Counts and the budget level carry on."""
        self._model_thumb: np.ndarray | None = None  # thumbnail of the frame the model last ran on
        self._render_thumb: np.ndarray | None = None  # thumbnail of the last frame refined and rendered
        self._prev: np.ndarray | None = None
        self._noise = 0.0  # 3x3-averaged sensor noise between consecutive thumbnails, grey levels
        self._since_model = 0
        self.skipped = 0  # frames the model skipped before the frame just planned (when that runs the model)

    # -- the budget ------------------------------------------------------------------------------------------

    def thresholds(self) -> tuple[float, float, int]:
        """(still, hold, interval) at the current level, with the measured noise added to both thresholds."""
        c, k = self.config, 2 ** self.level
        floor = 4.0 * self._noise
        return c.still * (1 + self.level) + floor, min(c.hold * k, 4 * c.hold) + floor, c.interval * k

    def cpu_share(self) -> float:
        """Percent of one core over the last :data:`WINDOW` frames (CPU x fps, or CPU over wall time); NaN before."""
        if len(self._costs) < 2:
            return float("nan")
        cpu = sum(c for c, _ in self._costs)
        if self.config.fps is not None:
            return 100.0 * cpu / len(self._costs) * self.config.fps
        wall = sum(w for _, w in self._costs)
        return 100.0 * cpu / wall if wall > 0 else float("nan")

    def busy_fps(self) -> float:
        """Frames per second the pipeline could keep up with over the last frames (its wall time per frame)."""
        return len(self._busy) / sum(self._busy) if self._busy and sum(self._busy) > 0 else float("inf")

    def over_budget(self) -> float:
        """How far over budget the stream runs: > 1 over, < 1 under (the larger of both budgets); NaN unknown."""
        c, ratios = self.config, []
        if c.max_cpu is not None and len(self._costs) >= WINDOW // 2:
            ratios.append(self.cpu_share() / c.max_cpu)
        if c.target_fps is not None and len(self._busy) >= WINDOW // 2:
            ratios.append(c.target_fps / self.busy_fps())
        return max(ratios) if ratios else float("nan")

    def observe(self, seconds: float) -> None:
        """The pipeline spent ``seconds`` (wall clock) on the frame just planned."""
        self._busy.append(seconds)
        self._since_level += 1
        ratio = self.over_budget()
        if self._since_level < SETTLE or ratio != ratio:
            return
        if ratio > 1.0 and self.level < self.config.max_level:
            self.level, self._since_level = self.level + 1, 0
            self.level_changes += 1
        elif ratio < 0.6 and self.level > 0:
            self.level, self._since_level = self.level - 1, 0
            self.level_changes += 1

    def _tick(self) -> None:
        cpu, wall = time.process_time(), time.perf_counter()
        if self._clock is not None:
            self._costs.append((cpu - self._clock[0], wall - self._clock[1]))
        self._clock = (cpu, wall)

    # -- the per-frame decision ------------------------------------------------------------------------------

    def plan(self, rgb: np.ndarray, can_reuse: bool = True) -> str:
        """The step for this frame (:data:`MODEL`, :data:`HOLD` or :data:`REUSE`), counted.

        ``can_reuse``: the caller still has a matte and background to reuse (else REUSE becomes HOLD).
        """
        self._tick()
        thumb = thumbnail(rgb)
        n = sum(self.counts.values())
        if self._prev is not None and self._prev.shape == thumb.shape and (self._noise == 0 or n % NOISE_EVERY == 0):
            noise = 1.4826 * float(np.median(change(thumb, self._prev)))  # robust: a moving minority does not count
            self._noise = noise if self._noise == 0 else 0.8 * self._noise + 0.2 * noise
        self._prev = thumb
        still, hold, interval = self.thresholds()
        step = MODEL
        if (self._model_thumb is not None and self._model_thumb.shape == thumb.shape
                and self._since_model < interval and float(change(thumb, self._model_thumb).max()) <= hold):
            step = HOLD
            if can_reuse and self._render_thumb is not None \
                    and float(change(thumb, self._render_thumb).max()) <= still:
                step = REUSE
        if step == MODEL:
            self.skipped = self._since_model - 1 if self._model_thumb is not None else 0
            self._model_thumb, self._since_model = thumb, 0
        self._since_model += 1
        if step != REUSE:
            self._render_thumb = thumb
        self.counts[step] += 1
        return step

    # -- choosing the model and threads ------------------------------------------------------------------------

    def choose(self, segmenter: Segmenter) -> Segmenter:
        """With a budget: the cheapest of the model and its INT8 twin, each with one thread and with ONNX Runtime's
        default, that keeps up with the stream; returns the segmenter to use (``segmenter`` itself if it wins or
        nothing is to choose). Models on a GPU provider are left alone."""
        c = self.config
        if not c.budgeted or not (c.choose_model or c.choose_threads):
            return segmenter
        if segmenter.model.provider != "CPUExecutionProvider":
            self.choice = f"{segmenter.info.name} on {segmenter.model.provider} (not timed: not the CPU)"
            return segmenter
        path = Path(segmenter.model.path)
        twin = path.with_name(f"{path.stem}-int8.onnx")
        models = [path] + ([twin] if c.choose_model and twin.is_file() and not path.stem.endswith("-int8") else [])
        threads = [segmenter.threads] + ([1] if c.choose_threads and segmenter.threads != 1 else [])
        keep = [segmenter.classes[i] for i in segmenter.keep]
        frame_s = 1 / (c.target_fps or c.fps or 30.0)
        timed = []
        for m in models:
            for t in threads:
                seg = segmenter if (m, t) == (path, segmenter.threads) else \
                    Segmenter(m, providers=["CPUExecutionProvider"], threads=t, keep=keep)
                timed.append((*time_model(seg), seg, t))
        fast = [x for x in timed if x[1] <= frame_s / 2] or timed
        cpu, wall, best, t = min(fast, key=lambda x: x[0])
        first = timed[0]
        self.choice = (f"{best.info.name} with {_threads(t)} ({cpu:.1f} ms CPU per model run; "
                       f"{first[2].info.name} with {_threads(first[3])}: {first[0]:.1f} ms)")
        return best

    # -- reporting ---------------------------------------------------------------------------------------------

    def summary(self) -> dict[str, Any]:
        """Counts of each step, the level, the measured CPU share and what :meth:`choose` picked (plain numbers)."""
        c = self.config
        return {**{f"{s}_frames": n for s, n in self.counts.items()}, "level": self.level,
                "level_changes": self.level_changes, "cpu_percent": self.cpu_share(),
                "max_cpu": c.max_cpu, "target_fps": c.target_fps, "choice": self.choice}

    def describe(self) -> str:
        """One line: how many frames took each step, the budget and the choice of model."""
        n = sum(self.counts.values())
        parts = [f"model on {self.counts[MODEL]} of {n} frames, probability held on {self.counts[HOLD]}, "
                 f"matte and background reused on {self.counts[REUSE]}"]
        budget = [f"{self.config.max_cpu:g} % CPU" if self.config.max_cpu is not None else "",
                  f"{self.config.target_fps:g} fps" if self.config.target_fps is not None else ""]
        if any(budget):
            parts.append(f"budget {' and '.join(b for b in budget if b)}, level {self.level} "
                         f"({self.level_changes} changes)")
        if self.choice:
            parts.append(self.choice)
        return "; ".join(parts)


def _threads(n: int | None) -> str:
    return "ONNX Runtime's default threads" if not n else f"{n} thread" + ("s" if n > 1 else "")


def time_model(segmenter: Segmenter, runs: int = 12) -> tuple[float, float]:
    """(CPU ms, wall ms) per run of ``segmenter``'s network on a random input, medians after a warm-up."""
    h, w = segmenter.info.input_size
    blob = np.random.default_rng(0).uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
    for _ in range(3):
        segmenter.model.run(blob)
    cpu, wall = [], []
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        segmenter.model.run(blob)
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return 1e3 * float(np.median(cpu)), 1e3 * float(np.median(wall))
