"""media.camera.virtualcam: frames to a (fake) pyvirtualcam device, setup hints without one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from camera_fakes import FakeVirtualCam, H, W, error_line, need_pyvirtualcam, run, write_clip

from segblur.media.camera import SinkError, VirtualCamera


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 60)  # 0.6 s at 100 fps: time for a few frames on a busy machine


def test_virtual_camera_gets_every_frame_at_the_source_size(clip: Path, model_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    pyvirtualcam = need_pyvirtualcam()
    FakeVirtualCam.instances = []
    monkeypatch.setattr(pyvirtualcam, "Camera", FakeVirtualCam)
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--virtual", "--virtual-device",
                    "/dev/video9", "--frames", "4", "--model", model_path)
    assert code == 0, err
    (cam,) = FakeVirtualCam.instances
    assert cam.device == "/dev/video9" and cam.fmt == pyvirtualcam.PixelFormat.RGB
    assert (cam.width, cam.height, cam.fps) == (W, H, 100.0)
    assert len(cam.frames) == 4 and cam.closed
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in cam.frames)
    assert "/dev/video9" in err


def test_virtual_camera_missing_gives_setup_instructions(clip: Path, model_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    pyvirtualcam = need_pyvirtualcam()

    def no_device(*a: Any, **kw: Any) -> None:
        raise RuntimeError("'v4l2loopback' backend: No v4l2 loopback device found at /dev/video[0-99].")

    monkeypatch.setattr(pyvirtualcam, "Camera", no_device)
    monkeypatch.setattr("sys.platform", "linux")
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--virtual", "--model", model_path)
    assert code == 2
    line = error_line(err)
    assert "virtual camera" in line and "No v4l2 loopback device" in line
    assert "modprobe v4l2loopback" in line


def test_virtual_camera_hint_on_other_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    pyvirtualcam = need_pyvirtualcam()

    def no_device(*a: Any, **kw: Any) -> None:
        raise RuntimeError("no backend found")

    monkeypatch.setattr(pyvirtualcam, "Camera", no_device)
    monkeypatch.setattr("sys.platform", "win32")
    with pytest.raises(SinkError, match="OBS Studio"):
        VirtualCamera(W, H, 30)
