"""media.camera.preview: the window refused or skipped without a GUI, the overlay."""

from __future__ import annotations

import ctypes
from pathlib import Path

import cv2
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
    assert preview.GUI_INSTALL in line and "--no-preview" in line
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
    monkeypatch.setattr(preview, "x_display_reachable", lambda display: display == ":0")
    assert preview.gui_problem() is None
    monkeypatch.setenv("DISPLAY", ":7")
    assert preview.gui_problem() == "no preview window: cannot connect to the X display :7"


def test_an_unreachable_x_display_is_found_before_the_gui_aborts(clip: Path, tmp_path: Path, model_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """OpenCV's Qt backend aborts the process (status 134) on a display it cannot reach: segblur asks libxcb first."""
    try:
        ctypes.CDLL("libxcb.so.1")
    except OSError:
        pytest.skip("libxcb is not installed: x_display_reachable cannot tell, and says True")
    assert not preview.x_display_reachable(":64999")  # nothing listens there
    monkeypatch.setattr(preview, "x_display_reachable", lambda display: False)
    monkeypatch.setattr(preview.cv2, "getBuildInformation", lambda: "  GUI:    QT5\n")
    monkeypatch.setattr(preview.sys, "platform", "linux")
    monkeypatch.setenv("DISPLAY", ":64999")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    code, err = run(capsys, "camera", "--source", clip, "--model", model_path)
    line = error_line(err)
    assert code == 2 and "cannot connect to the X display :64999" in line and "--no-preview" in line
    assert preview.GUI_INSTALL not in line  # not a missing GUI: no swap to suggest
    code, err = run(capsys, "camera", "--source", clip, "--model", model_path, "--frames", "2",
                    "--record", tmp_path / "r.mkv")
    assert code == 0, err
    assert "running without it" in err and len(decoded(tmp_path / "r.mkv")) == 2


def test_overlay_writes_the_status_into_the_top_of_the_frame() -> None:
    img = np.full((120, 200, 3), 128, np.uint8)
    out = preview.draw_overlay(img, ["30.0 fps  latency 40 ms", "keys"])
    assert out is img
    assert (img[:60] > 200).any() and (img[:60] < 30).any()  # white text, black outline
    assert (img[80:] == 128).all()


def test_overlay_outline_stays_on_the_letters_along_a_long_line() -> None:
    """The black outline is drawn at the white text's thickness: a thicker copy drifted right, letter by letter."""
    img = np.full((480, 640, 3), 128, np.uint8)
    preview.draw_overlay(img, ["e/E effect  +/- strength  b background  m mask"])
    cols = np.flatnonzero((img < 30).all(2).any(0)), np.flatnonzero((img > 220).all(2).any(0))
    dark, white = cols
    assert white.size and dark[0] >= white[0] - 3 and dark[-1] <= white[-1] + 3


def test_overlay_text_is_legible_and_wraps_on_a_small_frame() -> None:
    img = np.full((240, 320, 3), 128, np.uint8)
    lines = ["3.4 fps  latency 339 ms  shown 57  dropped 99  blur 0.5", preview.KEYS_HELP]
    preview.draw_overlay(img, lines)
    rows = np.flatnonzero((img > 220).all(2).any(1))
    assert rows[0] >= 5 and rows[-1] < 120
    runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
    assert len(runs) >= 4, "two long lines wrap into four or more"
    assert max(len(r) for r in runs) >= 8, "letters at least 8 pixels high"
    assert not (img[:, -6:] != 128).any(), "nothing drawn past the right margin"
    scale = preview.OVERLAY_MIN_SCALE
    wrapped = preview.wrap_overlay(lines, 300, scale, 1)
    assert "  ".join(wrapped).split("  ") == "  ".join(lines).split("  ")
    assert all(cv2.getTextSize(w, preview.FONT, scale, 1)[0][0] <= 300 for w in wrapped)


def test_window_is_a_plain_frame_sized_to_the_first_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Qt toolbar or status bar (WINDOW_GUI_NORMAL), and the window resized to the frame once: Qt opens it at
    400x300 whatever the frame (test_camera_window.py sees both on a real display)."""
    calls: list[tuple] = []
    monkeypatch.setattr(preview, "gui_problem", lambda: None)
    for name in ("namedWindow", "imshow", "resizeWindow"):
        monkeypatch.setattr(preview.cv2, name, lambda *a, name=name: calls.append((name, *a)))
    window = preview.PreviewWindow("t")
    assert calls[0][0] == "namedWindow" and calls[0][2] & cv2.WINDOW_GUI_NORMAL
    for index in range(2):
        window.send(np.zeros((48, 64, 3), np.uint8), index)
    assert [c for c in calls if c[0] == "resizeWindow"] == [("resizeWindow", "t", 64, 48)]
    assert [c[0] for c in calls].count("imshow") == 2


def test_a_closed_window_quits_even_when_opencv_has_forgotten_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """Qt raises for the properties of a window closed with its close button; that is a quit, not a traceback."""
    monkeypatch.setattr(preview, "gui_problem", lambda: None)
    for name in ("namedWindow", "imshow", "resizeWindow"):
        monkeypatch.setattr(preview.cv2, name, lambda *a: None)
    monkeypatch.setattr(preview.cv2, "waitKeyEx", lambda delay: -1)
    window = preview.PreviewWindow("t")
    window.send(np.zeros((48, 64, 3), np.uint8), 0)
    visible = [1.0]

    def prop(title: str, which: int) -> float:
        if not visible:
            raise cv2.error("NULL guiReceiver (please create a window)")
        return visible[0]

    monkeypatch.setattr(preview.cv2, "getWindowProperty", prop)
    assert window.poll_key() is None
    visible.clear()
    assert window.poll_key() == ord("q")


def test_keys_are_characters_only_and_shift_reaches_a_letter(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the GUI backends give cv2.waitKeyEx: X keysyms for arrows and Shift (Qt under Xvfb: Left 0xFF51, whose
    low byte is a 'Q', which used to quit), and a letter in lower case even with Shift held (Qt)."""
    monkeypatch.setattr(preview, "gui_problem", lambda: None)
    monkeypatch.setattr(preview.cv2, "namedWindow", lambda *a: None)
    monkeypatch.setattr(preview.cv2, "getWindowProperty", lambda *a: 1.0)
    pressed: list[int] = []
    monkeypatch.setattr(preview.cv2, "waitKeyEx", lambda delay: pressed.pop(0) if pressed else -1)
    window = preview.PreviewWindow("t")

    def keys(*codes: int) -> list[int | None]:
        pressed.extend(codes)
        return [window.poll_key() for _ in codes]

    assert keys(ord("e"), 27, ord("+")) == [ord("e"), 27, ord("+")]
    assert keys(0xFF51, 0xFF52, 0xFFBE, -1) == [None] * 4  # Left, Up, F1, nothing
    assert keys(0xFFE1, ord("e"), ord("e")) == [None, ord("E"), ord("e")]  # Shift applies to the next key only
    assert keys(0xFFE2, ord("E")) == [None, ord("E")]  # GTK: already upper case
    assert keys(0xFFE1, ord("+")) == [None, ord("+")]
