"""A virtual X display for the preview window's test: Xvfb, xdotool to find the window and type, libX11 (ctypes)
for screenshots and for the close button's message.

Needs Debian's xvfb and xdotool, and an OpenCV with a GUI for `segblur camera` (the runtime has the headless build:
`make opencv-gui` puts opencv-python in .cache/opencv-gui, which the test puts first on the command's PYTHONPATH).
Without them the test is skipped with the reason; CI sets SEGBLUR_REQUIRE_WINDOW=1, which turns the skip into a failure.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import cv2
import numpy as np
import pytest
from conftest import REPO

REQUIRED = os.environ.get("SEGBLUR_REQUIRE_WINDOW") == "1"
OPENCV_GUI = REPO / ".cache" / "opencv-gui"  # where `make opencv-gui` installs opencv-python (--target)


def skip_or_fail(reason: str) -> None:
    """Skip (a developer's machine), or fail when CI requires the window test to run."""
    if REQUIRED:
        pytest.fail(f"SEGBLUR_REQUIRE_WINDOW=1 but {reason}")
    pytest.skip(reason)


def gui_opencv_path() -> list[str]:
    """The PYTHONPATH entries that give `segblur camera` an OpenCV with a GUI: none when this one has it."""
    if not re.search(r"^\s*GUI:\s*NONE\b", cv2.getBuildInformation(), re.M):
        return []
    if not (OPENCV_GUI / "cv2").is_dir():
        skip_or_fail(f"this OpenCV has no GUI and {OPENCV_GUI} is missing (make opencv-gui)")
    return [str(OPENCV_GUI)]


class _XImage(ctypes.Structure):  # the head of Xlib's XImage, up to the colour masks
    _fields_ = [("width", ctypes.c_int), ("height", ctypes.c_int), ("xoffset", ctypes.c_int),
                ("format", ctypes.c_int), ("data", ctypes.POINTER(ctypes.c_ubyte)), ("byte_order", ctypes.c_int),
                ("bitmap_unit", ctypes.c_int), ("bitmap_bit_order", ctypes.c_int), ("bitmap_pad", ctypes.c_int),
                ("depth", ctypes.c_int), ("bytes_per_line", ctypes.c_int), ("bits_per_pixel", ctypes.c_int),
                ("red_mask", ctypes.c_ulong), ("green_mask", ctypes.c_ulong), ("blue_mask", ctypes.c_ulong)]


class _XClientMessageEvent(ctypes.Structure):
    _fields_ = [("type", ctypes.c_int), ("serial", ctypes.c_ulong), ("send_event", ctypes.c_int),
                ("display", ctypes.c_void_p), ("window", ctypes.c_ulong), ("message_type", ctypes.c_ulong),
                ("format", ctypes.c_int), ("data", ctypes.c_long * 5)]


class _XEvent(ctypes.Union):
    _fields_ = [("xclient", _XClientMessageEvent), ("pad", ctypes.c_long * 24)]


def _libx11() -> ctypes.CDLL:
    name = ctypes.util.find_library("X11")
    if name is None:
        skip_or_fail("libX11 is not installed (apt-get install xvfb xdotool)")
    x11 = ctypes.CDLL(name)
    x11.XOpenDisplay.restype, x11.XOpenDisplay.argtypes = ctypes.c_void_p, [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype, x11.XDefaultRootWindow.argtypes = ctypes.c_ulong, [ctypes.c_void_p]
    x11.XGetImage.restype = ctypes.POINTER(_XImage)
    x11.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_int, ctypes.c_uint,
                              ctypes.c_uint, ctypes.c_ulong, ctypes.c_int]
    x11.XDestroyImage.argtypes = [ctypes.POINTER(_XImage)]
    x11.XInternAtom.restype, x11.XInternAtom.argtypes = ctypes.c_ulong, [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_long, ctypes.POINTER(_XEvent)]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    return x11


@contextmanager
def _connection(name: str) -> Iterator[tuple[ctypes.CDLL, int]]:
    x11 = _libx11()
    d = x11.XOpenDisplay(name.encode())
    assert d, f"cannot open display {name}"
    try:
        yield x11, d
    finally:
        x11.XCloseDisplay(d)


class XDisplay:
    """One running X display: its name (":5") for DISPLAY; finding, typing into, reading and closing its windows."""

    def __init__(self, name: str) -> None:
        self.name = name

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a program shown on this display (Qt on X11, never Wayland)."""
        env = {k: v for k, v in os.environ.items() if k != "WAYLAND_DISPLAY"}
        return {**env, "DISPLAY": self.name, "QT_QPA_PLATFORM": "xcb", **extra}

    def xdotool(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["xdotool", *args], env=self.env(), capture_output=True, text=True, timeout=30)

    def find_window(self, title: str, alive: Callable[[], bool], timeout_s: float = 180) -> int:
        """The id of the one visible window whose title contains ``title`` (a regex), once it is mapped."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and alive():
            ids = self.xdotool("search", "--onlyvisible", "--name", title).stdout.split()
            if ids:
                assert len(ids) == 1, f"more than one window called {title!r}: {ids}"
                return int(ids[0])
            time.sleep(0.2)
        raise AssertionError(f"no window called {title!r} appeared" + ("" if alive() else " (the program ended)"))

    def geometry(self, window: int) -> tuple[int, int, int, int]:
        """x, y, width, height of ``window`` on the screen."""
        out = self.xdotool("getwindowgeometry", "--shell", str(window)).stdout
        assert "WIDTH=" in out, f"window {window} is gone"
        g = dict(line.split("=", 1) for line in out.split())
        return int(g["X"]), int(g["Y"]), int(g["WIDTH"]), int(g["HEIGHT"])

    def key(self, window: int, key: str, hold: Callable[[], None] | None = None) -> None:
        """Focus ``window`` and press ``key`` (an X key name: e, q, plus, Left, Escape) as a keyboard would (XTEST).

        ``hold``: Shift is held down first, until ``hold()`` returns, as a person's finger holds it.
        """
        self._xdotool("windowfocus", "--sync", str(window))
        if hold is None:
            self._xdotool("key", key)
            return
        self._xdotool("keydown", "Shift_L")
        try:
            hold()
            self._xdotool("key", key)
        finally:
            self._xdotool("keyup", "Shift_L")

    def _xdotool(self, *args: str) -> None:
        done = self.xdotool(*args)
        assert done.returncode == 0, f"xdotool {' '.join(args)}: {done.stderr.strip()}"

    def screenshot(self, window: int) -> np.ndarray:
        """What ``window`` shows on the screen, RGB uint8 (from the root window, which never fails to read)."""
        x, y, w, h = self.geometry(window)
        with _connection(self.name) as (x11, d):
            img = x11.XGetImage(d, x11.XDefaultRootWindow(d), x, y, w, h, 0xFFFFFFFF, 2)  # AllPlanes, ZPixmap
            assert img, f"XGetImage failed for window {window} at {x},{y} {w}x{h}"
            im = img.contents
            assert (im.bits_per_pixel, im.byte_order, im.red_mask, im.blue_mask) == (32, 0, 0xFF0000, 0xFF), \
                "expected a 24-bit TrueColor screen (Xvfb -screen 0 WxHx24)"
            raw = np.ctypeslib.as_array(im.data, shape=(im.height, im.bytes_per_line))
            rgb = np.ascontiguousarray(raw[:, :im.width * 4].reshape(im.height, im.width, 4)[:, :, 2::-1])
            x11.XDestroyImage(img)
        return rgb

    def close(self, window: int) -> None:
        """What a window manager sends when the window's close button is clicked (WM_PROTOCOLS: WM_DELETE_WINDOW)."""
        with _connection(self.name) as (x11, d):
            event = _XEvent()
            msg = event.xclient
            msg.type, msg.window, msg.format = 33, window, 32  # ClientMessage
            msg.message_type = x11.XInternAtom(d, b"WM_PROTOCOLS", 0)
            msg.data[0] = x11.XInternAtom(d, b"WM_DELETE_WINDOW", 0)
            assert x11.XSendEvent(d, window, 0, 0, ctypes.byref(event)), "XSendEvent failed"
            x11.XFlush(d)


def _start_xvfb(number: int, size: tuple[int, int], log: IO[bytes]) -> subprocess.Popen | None:
    """Xvfb on display ``number``, once it accepts connections (it says so through -displayfd); None if taken."""
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", f":{number}", "-displayfd", str(write), "-screen", "0",
                             f"{size[0]}x{size[1]}x24", "-nolisten", "tcp", "-noreset"], pass_fds=(write,),
                            stdout=subprocess.DEVNULL, stderr=log)
    os.close(write)
    with os.fdopen(read) as f:
        ready = f.readline().strip() == str(number)
    if not ready:
        proc.kill()
        proc.wait(timeout=30)
        return None
    return proc


@contextmanager
def xvfb(size: tuple[int, int] = (1280, 800)) -> Iterator[XDisplay]:
    """Xvfb on a display number of its own, stopped at the end.

    The number is drawn from a high range rather than the first free one from :0 up, which others on a shared machine
    take too. -noreset: an X server whose last client leaves resets and refuses connections meanwhile (70 of 300
    made right after one closed), and the test's own xdotool and screenshot connections come and go.
    """
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (apt-get install xvfb xdotool)")
    with tempfile.TemporaryFile() as log:  # not a pipe: nobody reads it while the server runs
        for number in random.sample(range(1000, 30000), 5):
            proc = _start_xvfb(number, size, log)
            if proc is not None:
                break
        else:
            log.seek(0)
            raise AssertionError(f"Xvfb did not start: {log.read().decode(errors='replace').strip()[-2000:]}")
        try:
            display = XDisplay(f":{number}")
            geometry = display.xdotool("getdisplaygeometry").stdout.split()
            assert geometry == [str(size[0]), str(size[1])], f"{display.name} is not our Xvfb: {geometry}"
            yield display
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def save(rgb: np.ndarray, path: Path) -> Path:
    """Keep a screenshot next to the test's files, for a failure message to point at."""
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path
