"""The preview window of `segblur camera`, opened for real: the GUI build of OpenCV under Xvfb, driven with xdotool.

`segblur camera` plays a clip of the bundled public-domain sample photo; the window's pixels are read back from the X
server and compared with the Pipeline's output for that frame, `e` and Shift+`E` change the effect, Left does nothing,
and `q` or the close button end the run with its report. Skipped with the reason without Xvfb, xdotool or a GUI
OpenCV (`make opencv-gui`); CI (SEGBLUR_REQUIRE_WINDOW=1) makes it fail instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from camera_fakes import need_av
from xdisplay import XDisplay, gui_opencv_path, save, xvfb

import segblur
from segblur import Pipeline
from segblur.bench.run import make_frame

SIZE = (640, 480)
BELOW_OVERLAY = 120  # rows from here down are clear of the overlay's lines at 480 rows


@pytest.fixture(scope="module")
def gui_path() -> list[str]:
    return gui_opencv_path()  # skipped (or failed in CI) before Xvfb starts


@pytest.fixture(scope="module")
def display(gui_path: list[str]) -> Iterator[XDisplay]:
    with xvfb() as d:
        yield d


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, Path]:
    """The sample photo framed at 640x480, and a two-minute clip of it."""
    frame = make_frame(SIZE)
    return frame, still_clip(tmp_path_factory.mktemp("window") / "astronaut.mkv", frame)


def still_clip(path: Path, frame: np.ndarray, fps: int = 4, seconds: int = 120) -> Path:
    """A lossless clip (x264 in RGB at qp 0) of one frame, so the window can be compared with the pipeline exactly."""
    av = need_av()
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264rgb", rate=fps, options={"qp": "0", "preset": "ultrafast"})
        s.width, s.height, s.pix_fmt = frame.shape[1], frame.shape[0], "rgb24"
        for _ in range(fps * seconds):
            for packet in s.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    return path


def processed(frame: np.ndarray, effect: str) -> np.ndarray:
    """What `segblur camera` shows for a still ``frame`` with ``effect``, before the overlay (its defaults)."""
    return Pipeline(effect=effect, temporal=True).process(frame)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference below the overlay, in grey levels (infinite for pictures of different sizes)."""
    if a.shape != b.shape:
        return float("inf")
    return float(np.abs(a[BELOW_OVERLAY:].astype(np.int16) - b[BELOW_OVERLAY:]).mean())


def wait_for(display: XDisplay, window: int, proc: subprocess.Popen, seen: Callable[[np.ndarray], bool],
             what: str, keep: Path, timeout_s: float = 120) -> np.ndarray:
    """Screenshots of ``window`` until one is ``seen``; on failure the last one is kept in ``keep`` and named."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = proc.poll() is None
        shot = display.screenshot(window) if alive else None
        if shot is not None and seen(shot):
            return shot
        if not alive or time.monotonic() > deadline:
            why = f"last screenshot: {save(shot, keep)}" if shot is not None else f"segblur ended: {proc.poll()}"
            raise AssertionError(f"the window never showed {what} ({why})")
        time.sleep(0.2)


def new_frames(display: XDisplay, window: int, proc: subprocess.Popen, count: int, keep: Path) -> None:
    """Wait until the window has shown ``count`` frames more (the overlay's "shown" count changes with each one)."""
    for _ in range(count):
        before = display.screenshot(window)[:BELOW_OVERLAY]
        wait_for(display, window, proc, lambda shot, before=before: not np.array_equal(shot[:BELOW_OVERLAY], before),
                 "a new frame", keep)


class Camera:
    """`segblur camera --source clip` on ``display`` with the GUI OpenCV, stderr to a file; killed if left running."""

    def __init__(self, display: XDisplay, gui_path: list[str], clip: Path, tmp: Path) -> None:
        path = [*gui_path, str(Path(segblur.__file__).parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]
        self.stderr = tmp / "stderr.txt"
        with self.stderr.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "segblur", "camera", "--source", str(clip)],
                                         env=display.env(PYTHONPATH=os.pathsep.join(path)),
                                         stdout=subprocess.DEVNULL, stderr=err)
        self.window = display.find_window("^segblur - ", self.running)

    def running(self) -> bool:
        return self.proc.poll() is None

    def finish(self) -> str:
        """Wait for the end: exit status 0 and the final report on stderr, no traceback; returns stderr."""
        try:
            code = self.proc.wait(timeout=120)
        finally:
            self.kill()
        err = self.stderr.read_text()
        assert code == 0, err
        assert "Traceback" not in err
        shown = r"^segblur: \d+ frames shown of \d+ captured \(\d+ dropped\), [\d.]+ fps; CPU \d+ % of one core"
        assert re.search(shown, err, re.M), err
        assert re.search(r"^segblur: latency capture to output: median [\d.]+ ms", err, re.M), err
        return err

    def kill(self) -> None:
        if self.running():
            self.proc.kill()
            self.proc.wait()


def test_window_shows_the_blurred_frame_with_overlay_takes_keys_and_quits_on_q(
        display: XDisplay, gui_path: list[str], clip: tuple[np.ndarray, Path], tmp_path: Path) -> None:
    frame, video = clip
    blurred, boxed = processed(frame, "blur"), processed(frame, "box")
    assert mad(blurred, frame) > 5 and mad(boxed, blurred) > 1  # the checks below can tell them apart
    camera = Camera(display, gui_path, video, tmp_path)
    try:
        window, proc = camera.window, camera.proc
        # Shown 1:1: the window takes the frame's size with the first frame (Qt opens it at 400x300).
        shot = wait_for(display, window, proc, lambda s: mad(s, blurred) < 0.5, "the blurred frame at its size",
                        tmp_path / "blurred.png")
        # The overlay: white letters outlined in black at the top left, which the pipeline's own output lacks.
        white = (shot[:BELOW_OVERLAY] >= 240).all(2) & ~(blurred[:BELOW_OVERLAY] >= 240).all(2)
        black = (shot[:BELOW_OVERLAY] <= 20).all(2) & ~(blurred[:BELOW_OVERLAY] <= 20).all(2)
        assert white.sum() > 300 and black.sum() > 300, f"no overlay text in {save(shot, tmp_path / 'overlay.png')}"
        assert np.flatnonzero(white.any(0))[0] < 30, "the overlay starts at the left edge"

        display.key(window, "Left")  # ignored: the low byte of its keysym is a 'Q', which used to quit
        display.key(window, "e")  # blur -> box
        wait_for(display, window, proc, lambda s: mad(s, boxed) < 0.5 and mad(s, blurred) > 1,
                 "the box effect after e", tmp_path / "after-e.png")
        # E: back to blur. Qt gives the letter in lower case and the Shift press as a key of its own, which segblur
        # sees only if the window takes events between the two: a person's Shift is down that long, and so is this
        # one, until the window has shown two new frames.
        display.key(window, "e", hold=lambda: new_frames(display, window, proc, 2, tmp_path / "shift.png"))
        wait_for(display, window, proc, lambda s: mad(s, blurred) < 0.5, "the blur effect again after E",
                 tmp_path / "after-E.png")

        assert camera.running(), "the clip ended before q was pressed"
        display.key(window, "q")
        camera.finish()
    finally:
        camera.kill()


def test_closing_the_window_ends_the_run_cleanly(display: XDisplay, gui_path: list[str],
                                                 clip: tuple[np.ndarray, Path], tmp_path: Path) -> None:
    """The close button (a window manager's WM_DELETE_WINDOW) quits like q; Qt used to make it a traceback."""
    frame, video = clip
    camera = Camera(display, gui_path, video, tmp_path)
    try:
        wait_for(display, camera.window, camera.proc, lambda s: s.shape[:2] == frame.shape[:2], "a frame",
                 tmp_path / "shown.png")
        assert camera.running(), "the clip ended before the window was closed"
        display.close(camera.window)
        camera.finish()
    finally:
        camera.kill()
