"""The live preview window (OpenCV highgui): each frame with an overlay of status lines and the keys.

The keys themselves are in :mod:`segblur.media.camera.controls`; the stream loop polls the
window for them between frames.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys

import cv2
import numpy as np

from .controls import KEYS_HELP
from .sinks import SinkError

NO_GUI = "no preview window: this OpenCV has no GUI support (opencv-python-headless)"
# The swap to OpenCV's GUI build. Both builds install the package cv2: installed side by side, whichever came last
# wins, and uninstalling either one breaks cv2 (measured), hence the forced reinstall, which also mends that case.
GUI_INSTALL = "pip uninstall -y opencv-python-headless && pip install --force-reinstall --no-deps opencv-python"
SHIFT_KEYS = (0xFFE1, 0xFFE2)  # Shift_L, Shift_R: the X keysyms cv2.waitKeyEx gives (Qt backend; GTK's are the same)


def gui_problem() -> str | None:
    """Why no preview window can open here (OpenCV without GUI, no display), or None if it should work."""
    m = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.M)
    if m and m.group(1).upper() == "NONE":
        return NO_GUI
    if sys.platform.startswith("linux"):
        display, wayland = os.environ.get("DISPLAY"), os.environ.get("WAYLAND_DISPLAY")
        if not (display or wayland):
            return "no preview window: no display (DISPLAY is not set)"
        if display and not wayland and not x_display_reachable(display):
            return f"no preview window: cannot connect to the X display {display}"
    return None


_X_KEPT: dict[str, int] = {}  # display -> the open libxcb connection x_display_reachable keeps


def x_display_reachable(display: str) -> bool:
    """Whether an X client can connect to ``display`` (True when libxcb is missing and so cannot tell).

    Asked first because OpenCV's GUI cannot be: its Qt backend aborts the whole process when the display is
    unreachable (exit status 134, a recording never finalised; seen with DISPLAY=:4321). The connection is kept
    open: an X server whose last client leaves resets, and refuses connections meanwhile (a bare Xvfb refused 70
    of 300 connects made right after one closed), which would abort Qt's own connection just the same.
    """
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True
    xcb.xcb_connect.restype, xcb.xcb_connect.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    kept = _X_KEPT.get(display)
    if kept is not None and xcb.xcb_connection_has_error(kept) == 0:
        return True
    connection = xcb.xcb_connect(display.encode(), None)  # never NULL: a failed one is an error object
    if xcb.xcb_connection_has_error(connection) != 0:
        xcb.xcb_disconnect(connection)
        return False
    _X_KEPT[display] = connection
    if kept is not None:
        xcb.xcb_disconnect(kept)
    return True


# Text size per 1000 rows of frame, and its floor: cv2's Hershey font below 0.45 (the old floor, 0.24, on a
# 320x240 frame) is unreadable in a screenshot of the window under Xvfb.
OVERLAY_SCALE, OVERLAY_MIN_SCALE = 0.6, 0.45
FONT = cv2.FONT_HERSHEY_SIMPLEX
OUTLINE = ((-1, -1), (1, -1), (-1, 1), (1, 1))  # four diagonal copies: half the cost of eight, as legible


def wrap_overlay(lines: list[str], width: int, scale: float, thick: int) -> list[str]:
    """``lines`` broken at their two-space separators where they would be wider than ``width`` pixels."""
    out = []
    for line in lines:
        current = ""
        for item in line.split("  "):
            longer = f"{current}  {item}" if current else item
            if current and cv2.getTextSize(longer, FONT, scale, thick)[0][0] > width:
                out.append(current)
                longer = item
            current = longer
        out.append(current)
    return out


def draw_overlay(image: np.ndarray, lines: list[str]) -> np.ndarray:
    """Write ``lines`` at the top left of ``image`` (in place), white on a black outline, scaled to its height.

    The text never gets smaller than :data:`OVERLAY_MIN_SCALE`; lines too wide for the frame wrap.
    """
    unit = max(OVERLAY_MIN_SCALE, OVERLAY_SCALE * image.shape[0] / 1000) / OVERLAY_SCALE
    thick, margin = max(1, round(unit)), int(10 * unit)
    y = int(28 * unit)
    for line in wrap_overlay(lines, image.shape[1] - 2 * margin - 2 * thick, OVERLAY_SCALE * unit, thick):
        # The outline is the text drawn shifted, in the same thickness: cv2 spaces letters by their thickness,
        # so a thicker black copy drifts off the white text along the line (measured: letters unreadable).
        for dx, dy in OUTLINE:
            cv2.putText(image, line, (margin + dx * thick, y + dy * thick), FONT, OVERLAY_SCALE * unit, (0, 0, 0),
                        thick, cv2.LINE_AA)
        cv2.putText(image, line, (margin, y), FONT, OVERLAY_SCALE * unit, (255, 255, 255), thick, cv2.LINE_AA)
        y += int(26 * unit)
    return image


class PreviewWindow:
    """A resizable window showing each frame with an overlay (status lines: fps, per-stage latency; key help)."""

    def __init__(self, title: str = "segblur") -> None:
        problem = gui_problem()
        if problem:
            raise SinkError(problem)
        self.title = title
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO | cv2.WINDOW_GUI_NORMAL)
        except cv2.error:
            raise SinkError(NO_GUI) from None
        self.status = ""
        self.help = KEYS_HELP
        self._shown = False
        self._shift = False  # the last key was Shift (see poll_key)

    def set_status(self, text: str) -> None:
        self.status = text

    def send(self, rgb: np.ndarray, index: int, captured: float = 0.0) -> None:
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        cv2.imshow(self.title, draw_overlay(bgr, [*self.status.splitlines(), self.help]))
        if not self._shown:  # Qt opens a resizable window at 400x300 whatever the frame: start at the frame's size
            cv2.resizeWindow(self.title, rgb.shape[1], rgb.shape[0])
        self._shown = True

    def poll_key(self) -> int | None:
        """The key pressed since the last call (an ASCII code), ``q`` when the window was closed, or None.

        Keys that type no character (arrows, function keys, Shift) are ignored: cv2.waitKey's low byte of
        the Left arrow (X keysym 0xFF51) was a ``Q``, which quit. OpenCV's Qt backend (opencv-python on
        Linux) gives a letter in lower case even with Shift held; it reports the Shift press itself as a
        key first, so a letter right after one is taken in upper case (``E``: the previous effect).
        """
        key = cv2.waitKeyEx(1)
        if key in SHIFT_KEYS:
            self._shift = True
            return None
        if key != -1:
            shift, self._shift = self._shift, False
            if not 0 < key < 0x80:
                return None
            return ord(chr(key).upper()) if shift else key
        if self._shown:
            try:
                visible = cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE)
            except cv2.error:  # Qt, once its close button was used: "NULL guiReceiver" (seen under Xvfb)
                visible = -1.0
            if visible < 1:
                return ord("q")
        return None

    def close(self) -> None:
        try:
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        except cv2.error:
            pass
