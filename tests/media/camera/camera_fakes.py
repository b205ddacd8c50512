"""Stand-ins for cameras, windows, virtual cameras and pipelines, and tiny clips, for the camera tests."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import split_image

from segblur.cli.main import main
from segblur.media.camera import SyntheticSource

W, H = 32, 24


def need_av():
    """PyAV (the video/camera extra): tests of files and recordings skip without it, the others still run."""
    return pytest.importorskip("av")


def need_pyvirtualcam():
    return pytest.importorskip("pyvirtualcam")


def write_clip(path: Path, frames: int, fps: int = 100, rotation: int = 0) -> Path:
    """A tiny H.264 clip: a red person region (left) growing over green, one column per frame."""
    av = need_av()
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        if rotation:
            s.set_display_rotation(rotation)
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(split_image(H, W, split=8 + i % 16), format="rgb24")
            for packet in s.encode(frame):
                c.mux(packet)
        for packet in s.encode(None):
            c.mux(packet)
    return path


def decoded(path: Path) -> list[np.ndarray]:
    av = need_av()
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


class FakeVirtualCam:
    """Stands in for pyvirtualcam.Camera: keeps what it is sent."""

    instances: list[FakeVirtualCam] = []

    def __init__(self, width: int, height: int, fps: float, *, fmt: Any = None, device: str | None = None,
                 backend: str | None = None, **kw: Any) -> None:
        self.width, self.height, self.fps, self.fmt = width, height, fps, fmt
        self.device = device or "/dev/video42"
        self.frames: list[np.ndarray] = []
        self.closed = False
        FakeVirtualCam.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())

    def close(self) -> None:
        self.closed = True


class ListSink:
    """Keeps every frame it is sent and its capture index; optionally raises Ctrl-C at frame ``interrupt_at``."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.indices: list[int] = []
        self.shapes: list[tuple[int, ...]] = []
        self.frames: list[np.ndarray] = []
        self.captured: list[float] = []
        self.closed = False
        self.interrupt_at = interrupt_at

    def send(self, rgb: np.ndarray, index: int, captured: float) -> None:
        self.indices.append(index)
        self.shapes.append(rgb.shape)
        self.frames.append(rgb.copy())
        self.captured.append(captured)
        if self.interrupt_at is not None and len(self.indices) == self.interrupt_at:
            raise KeyboardInterrupt

    def close(self) -> None:
        self.closed = True


class FakeWindow(ListSink):
    """An interactive sink: hands out scripted keys, records the status lines shown."""

    def __init__(self, keys: dict[int, int]) -> None:
        super().__init__()
        self.keys, self.statuses = keys, []

    def set_status(self, text: str) -> None:
        self.statuses.append(text)

    def poll_key(self) -> int | None:
        return self.keys.pop(len(self.indices), None)


class GatedPipeline:
    """A pipeline that holds its first frame until the source is exhausted: the slot must drop stale frames."""

    def __init__(self, gate: threading.Event) -> None:
        self.gate = gate
        self.last_timings: dict[str, float] = {}
        self.last_alpha: np.ndarray | None = None
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1

    def process(self, rgb: np.ndarray) -> np.ndarray:
        assert self.gate.wait(10)
        self.last_timings = {"segment": 1.0, "total": 1.0}
        return rgb


class ExhaustibleSource(SyntheticSource):
    def __init__(self, count: int, done: threading.Event) -> None:
        super().__init__(split_image(H, W), fps=None, count=count)
        self.done = done

    def read(self) -> np.ndarray | None:
        frame = super().read()
        if frame is None:
            self.done.set()
        return frame


class FakeCapture:
    """cv2.VideoCapture stand-in: ``frames`` BGR frames, then reads fail (an unplugged camera)."""

    def __init__(self, frames: int = 5, opened: bool = True) -> None:
        self.left, self.opened, self.released = frames, opened, False
        self.props: dict[int, float] = {}

    def isOpened(self) -> bool:  # noqa: N802 - OpenCV's name
        return self.opened

    def set(self, prop: int, value: float) -> bool:
        self.props[prop] = value
        return True

    def get(self, prop: int) -> float:
        return 50.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def read(self) -> tuple[bool, np.ndarray | None]:
        if self.left <= 0:
            return False, None
        self.left -= 1
        return True, cv2.cvtColor(split_image(H, W), cv2.COLOR_RGB2BGR)

    def release(self) -> None:
        self.released = True


def recorded_times(path: Path) -> list[float]:
    av = need_av()
    with av.open(str(path)) as c:
        return [f.time for f in c.decode(video=0)]


class Overclaiming:
    """A source that announces ``fps`` but delivers at the rate of the one it wraps (a cheap webcam in the dark)."""

    def __init__(self, inner: SyntheticSource, fps: Fraction) -> None:
        self.inner, self.fps = inner, fps
        self.name, self.width, self.height = inner.name, inner.width, inner.height

    def read(self) -> np.ndarray | None:
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()
