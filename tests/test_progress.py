"""Progress: count, rate and ETA; in place on a terminal, sparse whole lines otherwise, nothing when disabled."""

from __future__ import annotations

import io
import re

import pytest
import tqdm.std

from segblur.progress import Progress, format_duration


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A hand-moved clock for tqdm (read when a Progress is made): ``clock[0] += 2`` is two seconds later."""
    now = [1000.0]
    monkeypatch.setattr(tqdm.std, "time", lambda: now[0])
    return now


@pytest.mark.parametrize(("seconds", "text"), [(0, "00:00"), (5.4, "00:05"), (65, "01:05"), (3599.6, "1:00:00"),
                                               (3725, "1:02:05"), (-3, "00:00")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_line_has_count_rate_and_eta(clock: list[float]) -> None:
    p = Progress(10, "files", stream=io.StringIO(), min_interval=0)
    clock[0] += 2.0
    p.update(4)  # 4 files in 2 s: 2 files/s, 6 left -> 3 s
    line = p.line()
    assert "4/10 files" in line
    assert "(40%)" in line
    assert "2.00 files/s" in line
    assert "ETA 00:03" in line


def test_line_before_any_progress_has_unknown_eta() -> None:
    p = Progress(10, "frames", stream=io.StringIO())
    line = p.line()
    assert "0/10 frames" in line and "ETA ?" in line


def test_line_without_total_shows_count_rate_and_elapsed(clock: list[float]) -> None:
    p = Progress(None, "frames", stream=io.StringIO(), min_interval=0)
    clock[0] += 10.0
    p.update(30)
    line = p.line()
    assert line.startswith("30 frames") and "3.00 frames/s" in line and "00:10" in line
    assert "ETA" not in line


def test_extra_text_follows_the_rate() -> None:
    p = Progress(4, "images", stream=io.StringIO())
    p.extra = "epoch 1/3 loss 0.2500"
    assert p.line().endswith("  epoch 1/3 loss 0.2500") and p.extra == "epoch 1/3 loss 0.2500"


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
    assert all(re.search(r"[\d.]+ files/s  ETA \d+:\d\d", ln) for ln in lines)


def test_non_tty_stream_is_throttled_but_always_shows_the_end(clock: list[float]) -> None:
    s = io.StringIO()
    p = Progress(100, "files", stream=s)  # default: a line every 5 s off a terminal
    for _ in range(100):
        clock[0] += 0.125
        p.update()
    assert [ln.split()[0] for ln in s.getvalue().splitlines()] == ["40/100", "80/100"]  # every 5 s, none at 0
    p.close()
    lines = s.getvalue().splitlines()
    assert [ln.split()[0] for ln in lines] == ["40/100", "80/100", "100/100"]  # and always the end
    assert "8.00 files/s" in lines[-1]


def test_closing_right_after_a_shown_update_writes_no_second_line() -> None:
    s = io.StringIO()
    p = Progress(2, "files", stream=s, min_interval=0)
    p.update(2)
    p.close()
    assert len(s.getvalue().splitlines()) == 1


def test_tty_stream_redraws_in_place(clock: list[float]) -> None:
    s = FakeTTY()
    p = Progress(2, "files", stream=s, min_interval=0)
    assert p.tty
    clock[0] += 1
    p.update()
    clock[0] += 1
    p.update()
    p.close()
    text = s.getvalue()
    draws = text.split("\r")[1:]
    assert [d.split()[0] for d in draws] == ["0/2", "1/2", "2/2", "2/2"]  # start, two updates, the final state
    assert text.endswith("\n") and text.count("\n") == 1
    assert re.search(r"2/2 files \(100%\)\s+1\.00 files/s\s+ETA 00:00", text)


def test_clear_wipes_the_line_and_the_next_update_redraws_it() -> None:
    s = FakeTTY()
    p = Progress(5, "files", stream=s, min_interval=60)
    p.update()
    before = s.getvalue()
    p.clear()
    wiped = s.getvalue()[len(before):]
    assert wiped.strip() == "" and "\r" in wiped
    p.update()
    assert "2/5 files" in s.getvalue()[len(before) + len(wiped):]  # redrawn although 60 s have not passed


def test_disabled_progress_writes_nothing() -> None:
    s = FakeTTY()
    p = Progress(5, stream=s, enabled=False)
    p.extra = "ignored"
    for _ in range(5):
        p.update()
    p.clear()
    p.close()
    assert s.getvalue() == ""
    assert p.done == 5


def test_update_counts_batches() -> None:
    p = Progress(10, stream=io.StringIO(), min_interval=0)
    p.update(4)
    p.update(6)
    assert p.done == 10 and "10/10" in p.line()
