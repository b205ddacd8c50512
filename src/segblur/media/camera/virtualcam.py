"""A virtual camera sink (pyvirtualcam): video-call apps see the processed frames as a webcam."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np

from .sinks import SinkError
from .sources import fit_frame


def setup_hint(platform: str | None = None) -> str:
    """How to get a virtual camera device on this (or the named) platform."""
    platform = platform or sys.platform
    if platform.startswith("linux"):
        return ("create one with: sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label=segblur "
                "(package v4l2loopback-dkms), then pass its /dev/videoN with --virtual-device if there are several")
    return "install OBS Studio and start its virtual camera once (then stop it in OBS), so that other apps can use it"


class VirtualCamera:
    """Sends RGB frames to a virtual camera device (v4l2loopback on Linux, OBS on Windows/macOS).

    Raises :class:`~segblur.media.camera.sinks.SinkError` with setup instructions when there is none.
    """

    def __init__(self, width: int, height: int, fps: float | Fraction, device: str | None = None,
                 backend: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise SinkError("the virtual camera needs pyvirtualcam: pip install 'segblur[camera]'") from None
        self.width, self.height = width, height
        try:
            self._cam = pyvirtualcam.Camera(width, height, float(fps), fmt=pyvirtualcam.PixelFormat.RGB,
                                            device=device, backend=backend)
        except (RuntimeError, ValueError) as e:
            reason = " ".join(str(e).split()) or type(e).__name__
            where = f"virtual camera {device}" if device else "virtual camera"
            raise SinkError(f"{where}: not available ({reason}); {setup_hint()}") from None
        self.device = str(getattr(self._cam, "device", device or "?"))

    def send(self, rgb: np.ndarray, index: int, captured: float = 0.0) -> None:
        self._cam.send(np.ascontiguousarray(fit_frame(rgb, self.width, self.height)))

    def close(self) -> None:
        self._cam.close()
