"""The progress line of files, frames and epochs: count, rate and ETA, drawn by tqdm.

On a terminal the line is redrawn in place (at most every 0.1 s); anywhere else (a log, a pipe, CI) it is
written as whole lines, one every few seconds and always one at the end, so logs stay short and readable.
"""

from __future__ import annotations

import sys
from typing import TextIO

from tqdm import tqdm

# "4/10 files (40%)  2.00 files/s  ETA 00:03  <extra>"; without a total "30 frames  3.00 frames/s  00:10  <extra>".
# unit is given with a leading space, so "{n_fmt}/{total_fmt}{unit}" reads "4/10 files" and the rate "2.00 files/s".
_WITH_TOTAL = "{n_fmt}/{total_fmt}{unit} ({percentage:.0f}%)  {rate_noinv_fmt}  ETA {remaining}{extra}"
_NO_TOTAL = "{n_fmt}{unit}  {rate_noinv_fmt}  {elapsed}{extra}"


def format_duration(seconds: float) -> str:
    """Seconds -> ``H:MM:SS`` (or ``MM:SS`` under an hour), as the progress line writes its ETA."""
    return tqdm.format_interval(max(0, round(seconds)))


class _Bar(tqdm):
    """tqdm showing the postfix as ``{extra}``, after two spaces (tqdm's own starts with ", "); no monitor thread."""

    monitor_interval = 0  # the monitor only adjusts dynamic miniters, which Progress does not use

    @staticmethod
    def format_meter(n, total, elapsed, postfix=None, **kwargs):  # noqa: ANN001, ANN205 (tqdm's signature)
        return tqdm.format_meter(n, total, elapsed, extra=f"  {postfix}" if postfix else "", **kwargs)


class _Lines:
    """A file for tqdm off a terminal: each redraw (``"\\r" + text + padding``) becomes one whole line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, s: str) -> None:
        text = s.replace("\r", "").rstrip()
        if text:
            self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


class Progress:
    """``done/total unit (pct)  rate unit/s  ETA``; in place on a terminal, a line every few seconds otherwise.

    ``enabled=False`` writes nothing (the count still advances). ``extra`` is shown after the rate (e.g. the
    running loss); ``clear()`` wipes the line before a message is printed, the next update redraws it.
    """

    def __init__(self, total: int | None, unit: str = "files", stream: TextIO | None = None,
                 enabled: bool = True, min_interval: float | None = None) -> None:
        self.total, self.unit, self.done = total, unit, 0
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.enabled = enabled
        self._redraw = False
        interval = min_interval if min_interval is not None else (0.1 if self.tty else 5.0)
        # Off a terminal: no "0/N" line at the start (delay), and the closing line is written by close() itself.
        self._bar = _Bar(total=total or None, unit=f" {unit}", file=self.stream if self.tty else _Lines(self.stream),
                         disable=not enabled, mininterval=interval, miniters=1, position=0, leave=self.tty,
                         delay=0 if self.tty else 1e-9, dynamic_ncols=self.tty,
                         bar_format=_WITH_TOTAL if total else _NO_TOTAL)

    @property
    def extra(self) -> str:
        """Text shown after the rate, e.g. ``"epoch 2/10 loss 0.31"``; redrawn with the next update."""
        return getattr(self._bar, "postfix", None) or ""

    @extra.setter
    def extra(self, text: str) -> None:
        self._bar.postfix = text

    def line(self) -> str:
        """The current progress text ("" when disabled)."""
        return str(self._bar) if self.enabled else ""

    def update(self, n: int = 1) -> None:
        """Count ``n`` more items done; the line is redrawn when it is time to."""
        self.done += n
        self._bar.update(n)
        if self._redraw:
            self._redraw = False
            self._bar.refresh()

    def clear(self) -> None:
        """Wipe the in-place line (before printing a message on a terminal); it is redrawn on the next update."""
        if self.enabled and self.tty:
            self._bar.clear()
            self._redraw = True

    def close(self) -> None:
        """End the progress line: on a terminal it is left showing the final count; elsewhere a last line is written
        unless the last update already wrote it."""
        bar = self._bar
        if self.enabled and not self.tty and not bar.disable and bar.n != bar.last_print_n:
            bar.refresh()
        bar.close()
