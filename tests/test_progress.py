"""Progress: count, rate and ETA; in-place on a terminal, whole lines otherwise."""

from __future__ import annotations

import io
import time

import pytest

from segblur.progress import Progress, format_duration


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("seconds", "text"), [(0, "0:00"), (5.4, "0:05"), (65, "1:05"), (3599.6, "1:00:00"),
                                               (3725, "1:02:05"), (-3, "0:00")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_line_has_count_rate_and_eta() -> None:
    p = Progress(10, "files", stream=io.StringIO())
    p.done = 4
    p.start = time.perf_counter() - 2.0  # 4 files in 2 s: 2 files/s, 6 left -> 3 s
    line = p.line()
    assert "4/10 files" in line
    assert "(40%)" in line
    assert "2.0 files/s" in line
    assert "ETA 0:03" in line


def test_line_before_any_progress_has_unknown_eta() -> None:
    p = Progress(10, "frames", stream=io.StringIO())
    line = p.line()
    assert "0/10 frames" in line and "ETA ?" in line


def test_line_without_total_shows_count_rate_and_elapsed() -> None:
    p = Progress(None, "frames", stream=io.StringIO())
    p.done = 30
    p.start = time.perf_counter() - 10.0
    line = p.line()
    assert line.startswith("30 frames") and "3.0 frames/s" in line and "0:10" in line
    assert "ETA" not in line


def test_non_tty_stream_gets_whole_lines() -> None:
    s = io.StringIO()
    p = Progress(3, "files", stream=s, min_interval=0)
    assert not p.tty
    for _ in range(3):
        p.update()
    p.close()
    text = s.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert len(lines) == 3 and text.endswith("\n")
    assert [ln.split()[0] for ln in lines] == ["1/3", "2/3", "3/3"]


def test_non_tty_stream_is_throttled_but_always_shows_the_end() -> None:
    s = io.StringIO()
    p = Progress(100, "files", stream=s)  # default: a line every 5 s off a terminal
    for _ in range(100):
        p.update()
    lines = s.getvalue().splitlines()
    assert len(lines) == 2  # the first update, and the last one
    assert lines[-1].startswith("100/100")


def test_tty_stream_redraws_in_place() -> None:
    s = FakeTTY()
    p = Progress(2, "files", stream=s, min_interval=0)
    assert p.tty
    p.update()
    p.update()
    p.close()
    text = s.getvalue()
    assert text.count("\r\x1b[K") == 2
    assert text.endswith("\n") and text.count("\n") == 1
    assert "2/2 files" in text


def test_disabled_progress_writes_nothing() -> None:
    s = FakeTTY()
    p = Progress(5, stream=s, enabled=False)
    for _ in range(5):
        p.update()
    p.close()
    assert s.getvalue() == ""
    assert p.done == 5


def test_update_counts_batches() -> None:
    p = Progress(10, stream=io.StringIO(), min_interval=0)
    p.update(4)
    p.update(6)
    assert p.done == 10 and "10/10" in p.line()
