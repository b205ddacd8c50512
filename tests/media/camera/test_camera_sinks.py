"""media.camera.sinks: recordings stamped with capture times, finalised on every way out."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from camera_fakes import H, ListSink, Overclaiming, W, decoded, error_line, need_av, recorded_times, run, write_clip
from conftest import split_image

from segblur.media.camera import RecordSink, SyntheticSource, run_stream
from segblur.runtime.pipeline import Pipeline


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 60)  # 0.6 s at 100 fps: time for a few frames on a busy machine


def test_record_writes_a_valid_video_of_the_shown_frames(clip: Path, tmp_path: Path, model_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rec" / "out.mp4"
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--record", out, "--frames", "6",
                    "--model", model_path)
    assert code == 0, err
    frames = decoded(out)
    assert len(frames) == 6 and "recorded 6 frames" in err
    assert all(f.shape == (H, W, 3) for f in frames)
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.mp4"]  # no temp file left


def test_record_refuses_to_overwrite_the_source(clip: Path, model_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    before = clip.read_bytes()
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--record", clip, "--model", model_path)
    assert code == 2 and str(clip) in error_line(err)
    assert clip.read_bytes() == before


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_recording_is_stamped_with_capture_times(tmp_path: Path, suffix: str) -> None:
    """A camera claiming 30 fps that delivers about 15, with a dropped frame, still records in real time."""
    need_av()
    rec = RecordSink(tmp_path / f"slow{suffix}", W, H, Fraction(30))
    captured = [100.0, 100.067, 100.134, 100.267, 100.333]  # capture numbers 5, 6, 7, (8 dropped) 9, 10
    for index, t in zip((5, 6, 7, 9, 10), captured):
        rec.send(split_image(H, W), index, t)
    rec.close()
    np.testing.assert_allclose(recorded_times(tmp_path / f"slow{suffix}"), [t - 100 for t in captured], atol=1e-3)


def test_recording_in_avi_keeps_real_time_in_frame_slots(tmp_path: Path) -> None:
    need_av()
    rec = RecordSink(tmp_path / "gaps.avi", W, H, Fraction(10))
    for index, t in ((5, 7.0), (6, 7.1), (9, 7.4), (10, 7.41)):  # two frames in one slot: the later one moves on
        rec.send(split_image(H, W), index, t)
    rec.close()
    times = recorded_times(tmp_path / "gaps.avi")  # AVI numbers its frames: the span is what it keeps
    assert len(times) == 4 and round(times[-1] - times[0], 2) == 0.5


def test_recording_of_a_stream_follows_the_capture_clock(tmp_path: Path, model_path: Path) -> None:
    """Through run_stream: each recorded frame sits at its capture time, not at index / claimed fps."""
    need_av()
    src = Overclaiming(SyntheticSource(split_image(H, W), fps=20, count=8), Fraction(40))
    rec = RecordSink(tmp_path / "r.mkv", W, H, src.fps)
    sink = ListSink()
    stats = run_stream(src, Pipeline(model_path, temporal=True), [rec, sink])
    assert stats.ended == "end" and rec.frames == stats.shown == len(sink.captured) >= 2
    np.testing.assert_allclose(recorded_times(tmp_path / "r.mkv"), [t - sink.captured[0] for t in sink.captured],
                               atol=1.5e-3)
    assert recorded_times(tmp_path / "r.mkv")[-1] >= 0.9 * (sink.indices[-1] - sink.indices[0]) / 20


def test_recording_with_no_frame_leaves_no_file(tmp_path: Path) -> None:
    need_av()
    rec = RecordSink(tmp_path / "none.mp4", W, H, Fraction(30))
    rec.close()
    assert list(tmp_path.iterdir()) == []
