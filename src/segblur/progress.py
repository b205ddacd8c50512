"""A dependency-free progress line with count, rate and ETA, for files, frames and epochs."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    """Seconds -> ``H:MM:SS`` (or ``M:SS`` under an hour)."""
    s = max(0, int(round(seconds)))
    h, m = divmod(s, 3600)
    m, s = divmod(m, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``done/total unit  rate unit/s  ETA``; redrawn in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, total: int | None, unit: str = "files", stream: TextIO | None = None,
                 enabled: bool = True, min_interval: float | None = None) -> None:
        self.total, self.unit, self.done = total, unit, 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self.min_interval = min_interval if min_interval is not None else (0.1 if self.tty else 5.0)
        self.start = time.perf_counter()
        self._last = -1e9
        self.extra = ""  # shown after the rate, e.g. the running loss

    def line(self) -> str:
        """The current progress text."""
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            eta_s = format_duration(eta) if eta == eta else "?"
            text = (f"{self.done}/{self.total} {self.unit} ({100 * self.done / self.total:.0f}%)  "
                    f"{rate:.1f} {self.unit}/s  ETA {eta_s}")
        else:
            text = f"{self.done} {self.unit}  {rate:.1f} {self.unit}/s  {format_duration(elapsed)}"
        return f"{text}  {self.extra}" if self.extra else text

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done and redraw if it is time to."""
        self.done += n
        now = time.perf_counter()
        if self.enabled and (now - self._last >= self.min_interval or self.done == self.total):
            self._last = now
            self.stream.write(("\r\x1b[K" if self.tty else "") + self.line() + ("" if self.tty else "\n"))
            self.stream.flush()

    def clear(self) -> None:
        """Wipe the in-place line (before printing a message on a terminal); it is redrawn on the next update."""
        if self.enabled and self.tty:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._last = -1e9

    def close(self) -> None:
        """End the progress line."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
