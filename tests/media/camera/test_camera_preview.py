"""media.camera.preview: the window refused or skipped without a GUI, the overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from camera_fakes import decoded, error_line, run, write_clip

from segblur.media.camera import preview


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 60)  # 0.6 s at 100 fps: time for a few frames on a busy machine


def test_without_gui_the_preview_is_refused_or_skipped(clip: Path, tmp_path: Path, model_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(preview, "gui_problem", lambda: preview.NO_GUI)
    code, err = run(capsys, "camera", "--source", clip, "--model", model_path)
    assert code == 2
    line = error_line(err)
    assert "opencv-python" in line and "--no-preview" in line
    code, err = run(capsys, "camera", "--source", clip, "--model", model_path, "--frames", "2",
                    "--record", tmp_path / "r.mkv")
    assert code == 0, err
    assert "running without it" in err and len(decoded(tmp_path / "r.mkv")) == 2


def test_gui_problem_reads_the_build_information(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(preview.cv2, "getBuildInformation", lambda: "  GUI:    NONE\n")
    assert preview.gui_problem() == preview.NO_GUI
    monkeypatch.setattr(preview.cv2, "getBuildInformation", lambda: "  GUI:    GTK3\n")
    monkeypatch.setattr(preview.sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert "display" in preview.gui_problem()
    monkeypatch.setenv("DISPLAY", ":0")
    assert preview.gui_problem() is None


def test_overlay_writes_the_status_into_the_top_of_the_frame() -> None:
    img = np.full((120, 200, 3), 128, np.uint8)
    out = preview.draw_overlay(img, ["30.0 fps  latency 40 ms", "keys"])
    assert out is img
    assert (img[:60] > 200).any() and (img[:60] < 30).any()  # white text, black outline
    assert (img[80:] == 128).all()
