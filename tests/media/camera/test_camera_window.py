"""The preview window of `segblur camera`, opened for real: the GUI build of OpenCV under Xvfb, driven with xdotool.

`segblur camera` plays a clip of the bundled public-domain sample photo; the window's pixels are read back from the X
server and compared with the Pipeline's output for that frame, `e` changes the effect, and `q` ends the run with its
report. Skipped with the reason without Xvfb, xdotool or a GUI OpenCV (`make opencv-gui`); CI makes it fail instead.
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
def display() -> Iterator[XDisplay]:
    with xvfb() as d:
        yield d


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
        shot = display.screenshot(window)
        if seen(shot):
            return shot
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"the window never showed {what} (last screenshot: {save(shot, keep)})")
        time.sleep(0.2)


def test_window_shows_the_blurred_frame_with_overlay_takes_e_and_quits_on_q(display: XDisplay,
                                                                            tmp_path: Path) -> None:
    gui = gui_opencv_path()
    frame = make_frame(SIZE)
    clip = still_clip(tmp_path / "astronaut.mkv", frame)
    blurred, boxed = processed(frame, "blur"), processed(frame, "box")
    assert mad(blurred, frame) > 5 and mad(boxed, blurred) > 1  # the checks below can tell them apart

    path = [*gui, str(Path(segblur.__file__).parents[1]), *filter(None, [os.environ.get("PYTHONPATH")])]
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err_file:
        proc = subprocess.Popen([sys.executable, "-m", "segblur", "camera", "--source", str(clip)],
                                env=display.env(PYTHONPATH=os.pathsep.join(path)), stdout=subprocess.DEVNULL,
                                stderr=err_file)
    try:
        window = display.find_window("^segblur - ", lambda: proc.poll() is None)
        # Shown 1:1: the window takes the frame's size with the first frame (Qt opens it at 400x300).
        shot = wait_for(display, window, proc, lambda s: mad(s, blurred) < 0.5, "the blurred frame at its size",
                        tmp_path / "blurred.png")
        # The overlay: white letters outlined in black at the top left, which the pipeline's own output lacks.
        white = (shot[:BELOW_OVERLAY] >= 240).all(2) & ~(blurred[:BELOW_OVERLAY] >= 240).all(2)
        black = (shot[:BELOW_OVERLAY] <= 20).all(2) & ~(blurred[:BELOW_OVERLAY] <= 20).all(2)
        assert white.sum() > 300 and black.sum() > 300, f"no overlay text in {save(shot, tmp_path / 'overlay.png')}"
        assert np.flatnonzero(white.any(0))[0] < 30, "the overlay starts at the left edge"

        display.key(window, "e")  # blur -> box
        wait_for(display, window, proc, lambda s: mad(s, boxed) < 0.5 and mad(s, blurred) > 1,
                 "the box effect after e", tmp_path / "after-e.png")

        assert proc.poll() is None, "the clip ended before q was pressed"
        display.key(window, "q")
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = stderr.read_text()
    assert code == 0, err
    assert "Traceback" not in err
    assert re.search(r"^segblur: \d+ frames shown of \d+ captured \(\d+ dropped\), [\d.]+ fps$", err, re.M), err
    assert re.search(r"^segblur: latency capture to output: median [\d.]+ ms", err, re.M), err
