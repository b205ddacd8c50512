"""media.camera.sources: camera, file and URL sources; missing or broken ones named in one line."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from camera_fakes import FakeCapture, H, W, decoded, error_line, need_av, run, write_clip
from conftest import split_image

from segblur.media.camera import DeviceSource, SourceError, SourceLostError, open_source, sources
from segblur.media.video import upright


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 60)  # 0.6 s at 100 fps: time for a few frames on a busy machine


def test_missing_source_file_and_camera(tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "camera", "--source", tmp_path / "nope.mp4", "--no-preview", "--model", model_path)
    assert code == 2 and "nope.mp4" in error_line(err)
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda dev: FakeCapture(opened=False))
    code, err = run(capsys, "camera", "--source", "3", "--no-preview", "--model", model_path)
    assert code == 2 and "camera 3" in error_line(err)


def test_not_a_video_file(tmp_path: Path) -> None:
    need_av()
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video at all")
    with pytest.raises(SourceError, match="notes.mp4"):
        open_source(bad)
    with pytest.raises(SourceError, match="/dev/video99: no such device"):
        open_source("/dev/video99")
    with pytest.raises(SourceError, match="is not a file"):
        open_source(tmp_path)


def test_file_source_is_resized_to_the_asked_size(clip: Path, tmp_path: Path, model_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    src = open_source(clip, size=(48, 36))
    try:
        assert (src.width, src.height) == (48, 36)
        assert src.read().shape == (36, 48, 3)
    finally:
        src.close()
    out = tmp_path / "big.mkv"
    code, err = run(capsys, "camera", "--source", clip, "--size", "48x36", "--no-preview", "--record", out,
                    "--frames", "3", "--model", model_path)
    assert code == 0, err
    assert "48x36" in err and [f.shape for f in decoded(out)] == [(36, 48, 3)] * 3


def test_file_source_turns_rotated_video_upright(tmp_path: Path) -> None:
    """Display rotation is applied as ``segblur video`` applies it: the pipeline sees people upright."""

    plain, turned = write_clip(tmp_path / "plain.mp4", 3), write_clip(tmp_path / "turned.mp4", 3, rotation=90)
    src = open_source(turned, realtime=False)
    try:
        assert (src.width, src.height) == (H, W)
        frame = src.read()
    finally:
        src.close()
    expected = upright(decoded(plain)[0], 90)
    assert frame.shape == (W, H, 3) and frame.flags.c_contiguous
    assert np.abs(frame.astype(int) - expected).mean() < 2


def test_file_pacing_rate_and_size(clip: Path) -> None:
    src = open_source(clip, fps=250)
    try:
        assert (src.width, src.height, src.fps) == (W, H, Fraction(250))
        assert src.read().shape == (H, W, 3)
    finally:
        src.close()


def test_device_source_reads_rgb_and_reports_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    cap = FakeCapture(frames=2)
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda dev: cap)
    src = DeviceSource(0, size=(640, 480), fps=30, lost_after=0.05)
    assert (src.width, src.height, src.fps) == (W, H, Fraction(50))  # what the device gives, not what was asked
    assert cap.props[cv2.CAP_PROP_FRAME_WIDTH] == 640 and cap.props[cv2.CAP_PROP_FPS] == 30
    assert np.array_equal(src.read(), split_image(H, W)) and src.read() is not None
    with pytest.raises(SourceLostError, match="camera 0"):
        src.read()
    src.close()
    assert cap.released
