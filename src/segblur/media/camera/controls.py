"""The live preview's keys: what each one changes in the processor (effect, strength, background, smoothing,
mask view) or in the stream (quit). Kept apart from the window, so they are testable without a display.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ...names import EFFECT_CYCLE
from ..protocols import LiveProcessor

# (keys, what they do): the overlay's help line and `segblur camera --help` both say this.
KEYS = (("e/E", "effect"), ("+/-", "strength"), ("b", "background"), ("m", "mask"), ("t", "smoothing"),
        ("q", "quit"))
KEYS_HELP = "  ".join(f"{k} {what}" for k, what in KEYS)
STRENGTH_STEP = 0.1
MESSAGE_SECONDS = 1.5  # how long the overlay shows what the last key did


@dataclass
class Controls:
    """What the keys change besides the processor: the background pictures and colour to switch to, quitting."""

    backgrounds: tuple[np.ndarray | str | Path, ...] = ()
    color: tuple[int, int, int] | str | None = None  # for the color effect (None: its default)
    effects: tuple[str, ...] = EFFECT_CYCLE
    background_index: int = 0
    quit: bool = False
    message: str = field(default="")  # what the last key did, shown in the overlay for MESSAGE_SECONDS
    message_at: float = float("-inf")  # time.monotonic() when it was set

    def cycle(self) -> tuple[str, ...]:
        """The effects ``e`` steps through (``image`` only when there are background pictures)."""
        return self.effects + (("image",) if self.backgrounds else ())

    def describe(self, processor: LiveProcessor) -> str:
        """The current effect, strength and view, for the overlay."""
        effect = processor.effect
        text = f"{effect.name} {effect.strength:.1f}"
        if processor.temporal is None:
            text += "  smoothing off"
        return text + ("  [mask]" if processor.view == "mask" else "")

    def recent_message(self, now: float | None = None) -> str:
        """What the last key did, for MESSAGE_SECONDS after it was pressed (then ""), so a key press is seen."""
        recent = (time.monotonic() if now is None else now) - self.message_at < MESSAGE_SECONDS
        return self.message if recent else ""


def handle_key(key: int, controls: Controls, processor: LiveProcessor) -> str | None:
    """Apply one key press (a character code) to ``processor`` and ``controls``; returns what it did, or None.

    e/E next/previous effect, +/- strength, b next background picture, m mask view (the
    processor's :attr:`~segblur.runtime.pipeline.Pipeline.view`), t temporal smoothing on/off,
    q or Esc quit. Other keys do nothing.
    """
    ch = chr(key) if 0 <= key < 0x110000 else ""
    msg: str | None
    if ch in ("q", "Q", "\x1b"):
        controls.quit, msg = True, "quit"
    elif ch in ("e", "E"):
        cycle = controls.cycle()
        name = processor.effect.name
        i = cycle.index(name) if name in cycle else -1
        new = cycle[(i + (1 if ch == "e" else -1)) % len(cycle)]
        if new == "image":
            processor.set_effect("image", background=controls.backgrounds[controls.background_index])
        elif new == "color" and controls.color is not None:
            processor.set_effect("color", color=controls.color)
        else:
            processor.set_effect(new)
        msg = f"effect {new}"
    elif ch in ("+", "=", "-", "_"):
        step = STRENGTH_STEP if ch in ("+", "=") else -STRENGTH_STEP
        strength = round(min(1.0, max(0.0, processor.effect.strength + step)), 2)
        processor.set_effect(strength=strength)
        msg = f"strength {strength:.1f}"
    elif ch == "b":
        if not controls.backgrounds:
            msg = "no background pictures (give --background)"
        else:
            controls.background_index = (controls.background_index + 1) % len(controls.backgrounds)
            processor.set_effect("image", background=controls.backgrounds[controls.background_index])
            msg = f"background {controls.background_index + 1}/{len(controls.backgrounds)}"
    elif ch == "m":
        processor.view = "effect" if processor.view == "mask" else "mask"
        msg = f"{processor.view} view"
    elif ch == "t":
        on = processor.temporal is None
        processor.set_temporal(on)
        msg = "smoothing on" if on else "smoothing off"
    else:
        return None
    controls.message, controls.message_at = msg, time.monotonic()
    return msg
