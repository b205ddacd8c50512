"""The live preview window (OpenCV highgui) and its keys, kept apart from the window so they are testable.

``handle_key`` maps one key press to a change of the pipeline (effect, strength, background,
smoothing) or of the view (mask view, quit); the stream loop calls it between frames.
"""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..names import EFFECT_CYCLE
from .camera import SinkError

KEYS_HELP = "e/E effect  +/- strength  b background  m mask  t smoothing  q quit"
STRENGTH_STEP = 0.1
MESSAGE_SECONDS = 1.5  # how long the overlay shows what the last key did
NO_GUI = "no preview window: this OpenCV has no GUI support (opencv-python-headless)"


@dataclass
class Controls:
    """What the keys change besides the pipeline: the view, the background pictures and colour, quitting."""

    backgrounds: tuple[np.ndarray | str | Path, ...] = ()
    color: tuple[int, int, int] | str | None = None  # for the color effect (None: its default)
    effects: tuple[str, ...] = EFFECT_CYCLE
    background_index: int = 0
    show_mask: bool = False
    quit: bool = False
    message: str = field(default="")  # what the last key did, shown in the overlay for MESSAGE_SECONDS
    message_at: float = float("-inf")  # time.monotonic() when it was set

    def cycle(self) -> tuple[str, ...]:
        """The effects ``e`` steps through (``image`` only when there are background pictures)."""
        return self.effects + (("image",) if self.backgrounds else ())

    def describe(self, pipeline: Any) -> str:
        """The current effect, strength and view, for the overlay."""
        effect = pipeline.effect
        text = f"{effect.name} {effect.strength:.1f}"
        if pipeline.temporal is None:
            text += "  smoothing off"
        return text + ("  [mask]" if self.show_mask else "")

    def recent_message(self, now: float | None = None) -> str:
        """What the last key did, for MESSAGE_SECONDS after it was pressed (then ""), so a key press is seen."""
        recent = (time.monotonic() if now is None else now) - self.message_at < MESSAGE_SECONDS
        return self.message if recent else ""


def handle_key(key: int, controls: Controls, pipeline: Any) -> str | None:
    """Apply one key press (a character code) to ``pipeline`` and ``controls``; returns what it did, or None.

    e/E next/previous effect, +/- strength, b next background picture, m mask view, t temporal
    smoothing on/off, q or Esc quit. Other keys do nothing.
    """
    ch = chr(key) if 0 <= key < 0x110000 else ""
    msg: str | None
    if ch in ("q", "Q", "\x1b"):
        controls.quit, msg = True, "quit"
    elif ch in ("e", "E"):
        cycle = controls.cycle()
        name = pipeline.effect.name
        i = cycle.index(name) if name in cycle else -1
        new = cycle[(i + (1 if ch == "e" else -1)) % len(cycle)]
        if new == "image":
            pipeline.set_effect("image", background=controls.backgrounds[controls.background_index])
        elif new == "color" and controls.color is not None:
            pipeline.set_effect("color", color=controls.color)
        else:
            pipeline.set_effect(new)
        msg = f"effect {new}"
    elif ch in ("+", "=", "-", "_"):
        step = STRENGTH_STEP if ch in ("+", "=") else -STRENGTH_STEP
        strength = round(min(1.0, max(0.0, pipeline.effect.strength + step)), 2)
        pipeline.set_effect(strength=strength)
        msg = f"strength {strength:.1f}"
    elif ch == "b":
        if not controls.backgrounds:
            msg = "no background pictures (give --background)"
        else:
            controls.background_index = (controls.background_index + 1) % len(controls.backgrounds)
            pipeline.set_effect("image", background=controls.backgrounds[controls.background_index])
            msg = f"background {controls.background_index + 1}/{len(controls.backgrounds)}"
    elif ch == "m":
        controls.show_mask = not controls.show_mask
        msg = "mask view" if controls.show_mask else "effect view"
    elif ch == "t":
        on = pipeline.temporal is None
        pipeline.set_temporal(on)
        msg = "smoothing on" if on else "smoothing off"
    else:
        return None
    controls.message, controls.message_at = msg, time.monotonic()
    return msg


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
