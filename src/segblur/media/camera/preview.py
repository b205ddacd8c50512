"""The live preview window (OpenCV highgui): each frame with an overlay of status lines and the keys.

The keys themselves are in :mod:`segblur.media.camera.controls`; the stream loop polls the
window for them between frames.
"""

from __future__ import annotations

import os
import re
import sys

import cv2
import numpy as np

from .controls import KEYS_HELP
from .sinks import SinkError

NO_GUI = "no preview window: this OpenCV has no GUI support (opencv-python-headless)"


def gui_problem() -> str | None:
    """Why no preview window can open here (OpenCV without GUI, no display), or None if it should work."""
    m = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.M)
    if m and m.group(1).upper() == "NONE":
        return NO_GUI
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return "no preview window: no display (DISPLAY is not set)"
    return None


def draw_overlay(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Write ``lines`` at the top left of ``image`` (in place), white on a black outline, scaled to its height."""
    scale = max(0.4, image.shape[0] / 1000)
    y, thick = int(28 * scale), max(1, round(scale))
    for line in lines:
        for color, t in (((0, 0, 0), thick + 2), ((255, 255, 255), thick)):
            cv2.putText(image, line, (int(10 * scale), y), cv2.FONT_HERSHEY_SIMPLEX, 0.6 * scale, color, t,
                        cv2.LINE_AA)
        y += int(26 * scale)
    return image


class PreviewWindow:
    """A resizable window showing each frame with an overlay (status lines: fps, per-stage latency; key help)."""

    def __init__(self, title: str = "segblur") -> None:
        problem = gui_problem()
        if problem:
            raise SinkError(problem)
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        except cv2.error:
            raise SinkError(NO_GUI) from None
        self.status = ""
        self.help = KEYS_HELP
        self._shown = False

    def set_status(self, text: str) -> None:
        self.status = text

    def send(self, rgb: np.ndarray, index: int, captured: float = 0.0) -> None:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        cv2.imshow(self.title, draw_overlay(bgr, [*self.status.splitlines(), self.help]))
        self._shown = True

    def poll_key(self) -> int | None:
        """The key pressed since the last call (a character code), ``q`` when the window was closed, or None."""
        key = cv2.waitKey(1)
        if key != -1:
            return key & 0xFF
        if self._shown and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            return ord("q")
        return None

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass
