"""``segblur camera``: a file played headless, to the end or N frames."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from camera_fakes import run, write_clip


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 60)  # 0.6 s at 100 fps: time for a few frames on a busy machine


def test_file_source_headless_stops_after_n_frames(clip: Path, model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--frames", "5", "--model", model_path)
    assert code == 0, err
    shown, captured, dropped = (int(v) for v in re.search(r"(\d+) frames shown of (\d+) captured \((\d+) dropped",
                                                            err).groups())
    assert shown == 5 and captured == shown + dropped
    assert "latency capture to output: median" in err and "segment" in err
    # The headless progress line carries the live per-stage and end-to-end medians.
    assert re.search(r"5/5 frames .*median ms: segment [\d.]+  refine [\d.]+  effect [\d.]+  compose [\d.]+  "
                     r"end-to-end \d+", err), err


def test_file_source_ends_with_the_file(clip: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--model", model_path)
    assert code == 0, err
    shown, captured, dropped = (int(v) for v in re.search(r"(\d+) frames shown of (\d+) captured \((\d+) dropped",
                                                            err).groups())
    assert captured == 60 and shown + dropped == 60 and shown >= 1

