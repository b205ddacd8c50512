"""``segblur camera`` and media/camera.py: sources, the threaded stream, sinks, keys, failures (no real devices)."""

from __future__ import annotations

import re
import threading
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from conftest import split_image

from segblur.cli.main import main
from segblur.media import camera, preview
from segblur.media.camera import (
    DeviceSource,
    RecordSink,
    SourceError,
    SourceLostError,
    StreamStats,
    SyntheticSource,
    open_source,
    run_stream,
)
from segblur.media.preview import Controls, handle_key
from segblur.media.virtualcam import VirtualCamera
from segblur.runtime.pipeline import Pipeline

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


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 60)  # 0.6 s at 100 fps: time for a few frames on a busy machine


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
    """Keeps the capture index of every frame it is sent; optionally raises Ctrl-C at frame ``interrupt_at``."""

    def __init__(self, interrupt_at: int | None = None) -> None:
        self.indices: list[int] = []
        self.shapes: list[tuple[int, ...]] = []
        self.captured: list[float] = []
        self.closed = False
        self.interrupt_at = interrupt_at

    def send(self, rgb: np.ndarray, index: int, captured: float) -> None:
        self.indices.append(index)
        self.shapes.append(rgb.shape)
        self.captured.append(captured)
        if self.interrupt_at is not None and len(self.indices) == self.interrupt_at:
            raise KeyboardInterrupt

    def close(self) -> None:
        self.closed = True


# --- file source through the CLI ------------------------------------------------------------------------

def test_file_source_headless_stops_after_n_frames(clip: Path, model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--frames", "5", "--model", model_path)
    assert code == 0, err
    shown, captured, dropped = (int(v) for v in re.search(r"(\d+) frames shown of (\d+) captured \((\d+) dropped",
                                                            err).groups())
    assert shown == 5 and captured == shown + dropped
    assert "latency capture to output: median" in err and "segment" in err
    # The headless progress line carries the live per-stage and end-to-end medians.
    assert re.search(r"5/5 frames .*median ms: segment [\d.]+  refine [\d.]+  effect [\d.]+  compose [\d.]+  "
                     r"end-to-end \d+", err), err


def test_file_source_ends_with_the_file(clip: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--model", model_path)
    assert code == 0, err
    shown, captured, dropped = (int(v) for v in re.search(r"(\d+) frames shown of (\d+) captured \((\d+) dropped",
                                                            err).groups())
    assert captured == 60 and shown + dropped == 60 and shown >= 1


def test_virtual_camera_gets_every_frame_at_the_source_size(clip: Path, model_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    pyvirtualcam = need_pyvirtualcam()
    FakeVirtualCam.instances = []
    monkeypatch.setattr(pyvirtualcam, "Camera", FakeVirtualCam)
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--virtual", "--virtual-device",
                    "/dev/video9", "--frames", "4", "--model", model_path)
    assert code == 0, err
    (cam,) = FakeVirtualCam.instances
    assert cam.device == "/dev/video9" and cam.fmt == pyvirtualcam.PixelFormat.RGB
    assert (cam.width, cam.height, cam.fps) == (W, H, 100.0)
    assert len(cam.frames) == 4 and cam.closed
    assert all(f.shape == (H, W, 3) and f.dtype == np.uint8 for f in cam.frames)
    assert "/dev/video9" in err


def test_virtual_camera_missing_gives_setup_instructions(clip: Path, model_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    pyvirtualcam = need_pyvirtualcam()

    def no_device(*a: Any, **kw: Any) -> None:
        raise RuntimeError("'v4l2loopback' backend: No v4l2 loopback device found at /dev/video[0-99].")

    monkeypatch.setattr(pyvirtualcam, "Camera", no_device)
    monkeypatch.setattr("sys.platform", "linux")
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--virtual", "--model", model_path)
    assert code == 2
    line = error_line(err)
    assert "virtual camera" in line and "No v4l2 loopback device" in line
    assert "modprobe v4l2loopback" in line


def test_virtual_camera_hint_on_other_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    pyvirtualcam = need_pyvirtualcam()

    def no_device(*a: Any, **kw: Any) -> None:
        raise RuntimeError("no backend found")

    monkeypatch.setattr(pyvirtualcam, "Camera", no_device)
    monkeypatch.setattr("sys.platform", "win32")
    with pytest.raises(camera.SinkError, match="OBS Studio"):
        VirtualCamera(W, H, 30)


def test_record_writes_a_valid_video_of_the_shown_frames(clip: Path, tmp_path: Path, model_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "rec" / "out.mp4"
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--record", out, "--frames", "6",
                    "--model", model_path)
    assert code == 0, err
    frames = decoded(out)
    assert len(frames) == 6 and "recorded 6 frames" in err
    assert all(f.shape == (H, W, 3) for f in frames)
    assert sorted(p.name for p in out.parent.iterdir()) == ["out.mp4"]  # no temp file left


def test_record_refuses_to_overwrite_the_source(clip: Path, model_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    before = clip.read_bytes()
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--record", clip, "--model", model_path)
    assert code == 2 and str(clip) in error_line(err)
    assert clip.read_bytes() == before


def test_missing_source_file_and_camera(tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "camera", "--source", tmp_path / "nope.mp4", "--no-preview", "--model", model_path)
    assert code == 2 and "nope.mp4" in error_line(err)
    monkeypatch.setattr(camera.cv2, "VideoCapture", lambda dev: FakeCapture(opened=False))
    code, err = run(capsys, "camera", "--source", "3", "--no-preview", "--model", model_path)
    assert code == 2 and "camera 3" in error_line(err)


def test_not_a_video_file(tmp_path: Path) -> None:
    need_av()
    bad = tmp_path / "notes.mp4"
    bad.write_text("not a video at all")
    with pytest.raises(SourceError, match="notes.mp4"):
        open_source(bad)
    with pytest.raises(SourceError, match="/dev/video99: no such device"):
        open_source("/dev/video99")
    with pytest.raises(SourceError, match="is not a file"):
        open_source(tmp_path)


def test_file_source_is_resized_to_the_asked_size(clip: Path, tmp_path: Path, model_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    src = open_source(clip, size=(48, 36))
    try:
        assert (src.width, src.height) == (48, 36)
        assert src.read().shape == (36, 48, 3)
    finally:
        src.close()
    out = tmp_path / "big.mkv"
    code, err = run(capsys, "camera", "--source", clip, "--size", "48x36", "--no-preview", "--record", out,
                    "--frames", "3", "--model", model_path)
    assert code == 0, err
    assert "48x36" in err and [f.shape for f in decoded(out)] == [(36, 48, 3)] * 3


def test_file_source_turns_rotated_video_upright(tmp_path: Path) -> None:
    """Display rotation is applied as ``segblur video`` applies it: the pipeline sees people upright."""
    from segblur.media.video import upright

    plain, turned = write_clip(tmp_path / "plain.mp4", 3), write_clip(tmp_path / "turned.mp4", 3, rotation=90)
    src = open_source(turned, realtime=False)
    try:
        assert (src.width, src.height) == (H, W)
        frame = src.read()
    finally:
        src.close()
    expected = upright(decoded(plain)[0], 90)
    assert frame.shape == (W, H, 3) and frame.flags.c_contiguous
    assert np.abs(frame.astype(int) - expected).mean() < 2


def test_file_pacing_rate_and_size(clip: Path) -> None:
    src = open_source(clip, fps=250)
    try:
        assert (src.width, src.height, src.fps) == (W, H, Fraction(250))
        assert src.read().shape == (H, W, 3)
    finally:
        src.close()


# --- preview ---------------------------------------------------------------------------------------------

def test_without_gui_the_preview_is_refused_or_skipped(clip: Path, tmp_path: Path, model_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(preview, "gui_problem", lambda: preview.NO_GUI)
    code, err = run(capsys, "camera", "--source", clip, "--model", model_path)
    assert code == 2
    line = error_line(err)
    assert "opencv-python" in line and "--no-preview" in line
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
    assert preview.gui_problem() is None


def test_overlay_writes_the_status_into_the_top_of_the_frame() -> None:
    img = np.full((120, 200, 3), 128, np.uint8)
    out = preview.draw_overlay(img, ["30.0 fps  latency 40 ms", "keys"])
    assert out is img
    assert (img[:60] > 200).any() and (img[:60] < 30).any()  # white text, black outline
    assert (img[80:] == 128).all()


def test_keys_change_the_pipeline_live(model_path: Path) -> None:
    pipe = Pipeline(model_path, effect="blur", temporal=True)
    bg = np.zeros((8, 8, 3), np.uint8)
    c = Controls(backgrounds=(bg, bg + 50), color=(1, 2, 3))
    assert handle_key(ord("e"), c, pipe) == "effect box" and pipe.effect.name == "box"
    assert handle_key(ord("E"), c, pipe) == "effect blur" and pipe.effect.name == "blur"
    handle_key(ord("E"), c, pipe)  # blur is first: back wraps to the last, image (there are backgrounds)
    assert pipe.effect.name == "image"
    handle_key(ord("E"), c, pipe)
    assert pipe.effect.name == "color" and pipe.effect.color == (1, 2, 3)
    s = pipe.effect.strength
    handle_key(ord("+"), c, pipe)
    assert pipe.effect.strength == pytest.approx(min(1.0, s + 0.1)) and pipe.effect.name == "color"
    for _ in range(15):
        handle_key(ord("-"), c, pipe)
    assert pipe.effect.strength == 0.0
    for _ in range(15):
        handle_key(ord("="), c, pipe)
    assert pipe.effect.strength == 1.0
    assert handle_key(ord("b"), c, pipe) == "background 2/2"
    assert pipe.effect.name == "image" and int(pipe.effect.image.max()) == 50
    assert handle_key(ord("m"), c, pipe) == "mask view" and c.show_mask
    handle_key(ord("m"), c, pipe)
    assert not c.show_mask
    assert handle_key(ord("t"), c, pipe) == "smoothing off" and pipe.temporal is None
    assert handle_key(ord("t"), c, pipe) == "smoothing on" and pipe.temporal is not None
    assert "smoothing" not in c.describe(pipe)
    assert handle_key(ord("x"), c, pipe) is None and not c.quit
    assert handle_key(27, c, pipe) == "quit" and c.quit
    c2 = Controls()
    assert handle_key(ord("b"), c2, pipe).startswith("no background")
    assert "image" not in c2.cycle()
    assert handle_key(ord("q"), c2, pipe) == "quit" and c2.quit


class FakeWindow(ListSink):
    """An interactive sink: hands out scripted keys, records the status lines shown."""

    def __init__(self, keys: dict[int, int]) -> None:
        super().__init__()
        self.keys, self.statuses = keys, []

    def set_status(self, text: str) -> None:
        self.statuses.append(text)

    def poll_key(self) -> int | None:
        return self.keys.pop(len(self.indices), None)


def test_keys_from_the_window_reach_the_stream(model_path: Path) -> None:
    """m switches the output to the mask view; q ends the stream (ended == quit)."""
    pipe = Pipeline(model_path, temporal=True)
    win = FakeWindow({2: ord("m"), 4: ord("q")})
    src = SyntheticSource(split_image(H, W), fps=200)
    controls = Controls()
    stats = run_stream(src, pipe, [win], controls=controls)
    assert stats.ended == "quit" and controls.show_mask
    assert len(win.indices) == 4 and win.closed
    assert "fps" in win.statuses[-1] and "[mask]" in win.statuses[-1]
    # The overlay's second line: median ms per stage and end to end over the recent frames.
    assert re.search(r"\nmedian ms: segment [\d.]+ .*compose [\d.]+  end-to-end \d+$", win.statuses[-1])


# --- the threaded stream ---------------------------------------------------------------------------------

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


def test_stale_frames_are_dropped_and_counted() -> None:
    gate = threading.Event()
    sink = ListSink()
    stats = run_stream(ExhaustibleSource(30, gate), GatedPipeline(gate), [sink])
    assert stats.ended == "end" and sink.closed
    assert stats.captured == 30
    assert stats.shown == len(sink.indices) and stats.shown + stats.dropped == stats.captured
    assert stats.shown <= 2 and stats.stale >= 28  # one frame in the model, the newest one waiting
    assert sink.indices[-1] == 29  # the latest frame is shown, not the oldest


def test_frames_in_flight_at_the_end_count_as_dropped(model_path: Path) -> None:
    pipe = Pipeline(model_path, temporal=True)
    sink = ListSink()
    stats = run_stream(SyntheticSource(split_image(H, W), fps=2000), pipe, [sink], frames=3)
    assert stats.ended == "frames" and stats.shown == 3 == len(sink.indices)
    assert stats.captured == stats.shown + stats.dropped
    assert sink.indices == sorted(set(sink.indices))
    assert set(stats.medians()) >= {"wait", "segment", "refine", "effect", "compose", "output"}
    s = stats.summary()
    assert s["latency_p95_ms"] >= s["latency_median_ms"] > 0


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


def test_device_source_reads_rgb_and_reports_loss(monkeypatch: pytest.MonkeyPatch) -> None:
    cap = FakeCapture(frames=2)
    monkeypatch.setattr(camera.cv2, "VideoCapture", lambda dev: cap)
    src = DeviceSource(0, size=(640, 480), fps=30, lost_after=0.05)
    assert (src.width, src.height, src.fps) == (W, H, Fraction(50))  # what the device gives, not what was asked
    assert cap.props[cv2.CAP_PROP_FRAME_WIDTH] == 640 and cap.props[cv2.CAP_PROP_FPS] == 30
    assert np.array_equal(src.read(), split_image(H, W)) and src.read() is not None
    with pytest.raises(SourceLostError, match="camera 0"):
        src.read()
    src.close()
    assert cap.released


def test_camera_lost_mid_stream_exits_1_and_keeps_the_recording(tmp_path: Path, model_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    need_av()
    monkeypatch.setattr(camera.cv2, "VideoCapture", lambda dev: FakeCapture(frames=6))
    monkeypatch.setattr(camera, "LOST_AFTER_S", 0.05)
    out = tmp_path / "lost.mp4"
    code, err = run(capsys, "camera", "--source", "0", "--no-preview", "--record", out, "--model", model_path)
    assert code == 1
    assert "camera 0: stopped delivering frames" in err and "Traceback" not in err
    shown = int(re.search(r"(\d+) frames shown", err).group(1))
    assert 1 <= shown <= 6
    assert len(decoded(out)) == shown
    assert [p.name for p in tmp_path.iterdir()] == ["lost.mp4"]


def test_ctrl_c_finalises_the_recording(tmp_path: Path, model_path: Path) -> None:
    need_av()
    pipe = Pipeline(model_path, temporal=True)
    src = SyntheticSource(split_image(H, W), fps=200)
    rec = RecordSink(tmp_path / "r.mp4", W, H, src.fps)
    stats = run_stream(src, pipe, [rec, ListSink(interrupt_at=3)])
    assert stats.ended == "interrupted" and stats.shown == 3  # Ctrl-C came while the third frame was sent
    frames = decoded(tmp_path / "r.mp4")
    assert len(frames) == 3 == rec.frames
    assert stats.captured == stats.shown + stats.dropped


def recorded_times(path: Path) -> list[float]:
    av = need_av()
    with av.open(str(path)) as c:
        return [f.time for f in c.decode(video=0)]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_recording_is_stamped_with_capture_times(tmp_path: Path, suffix: str) -> None:
    """A camera claiming 30 fps that delivers about 15, with a dropped frame, still records in real time."""
    need_av()
    rec = RecordSink(tmp_path / f"slow{suffix}", W, H, Fraction(30))
    captured = [100.0, 100.067, 100.134, 100.267, 100.333]  # capture numbers 5, 6, 7, (8 dropped) 9, 10
    for index, t in zip((5, 6, 7, 9, 10), captured):
        rec.send(split_image(H, W), index, t)
    rec.close()
    np.testing.assert_allclose(recorded_times(tmp_path / f"slow{suffix}"), [t - 100 for t in captured], atol=1e-3)


def test_recording_in_avi_keeps_real_time_in_frame_slots(tmp_path: Path) -> None:
    need_av()
    rec = RecordSink(tmp_path / "gaps.avi", W, H, Fraction(10))
    for index, t in ((5, 7.0), (6, 7.1), (9, 7.4), (10, 7.41)):  # two frames in one slot: the later one moves on
        rec.send(split_image(H, W), index, t)
    rec.close()
    times = recorded_times(tmp_path / "gaps.avi")  # AVI numbers its frames: the span is what it keeps
    assert len(times) == 4 and round(times[-1] - times[0], 2) == 0.5


class Overclaiming:
    """A source that announces ``fps`` but delivers at the rate of the one it wraps (a cheap webcam in the dark)."""

    def __init__(self, inner: SyntheticSource, fps: Fraction) -> None:
        self.inner, self.fps = inner, fps
        self.name, self.width, self.height = inner.name, inner.width, inner.height

    def read(self) -> np.ndarray | None:
        return self.inner.read()

    def close(self) -> None:
        self.inner.close()


def test_recording_of_a_stream_follows_the_capture_clock(tmp_path: Path, model_path: Path) -> None:
    """Through run_stream: each recorded frame sits at its capture time, not at index / claimed fps."""
    need_av()
    src = Overclaiming(SyntheticSource(split_image(H, W), fps=20, count=8), Fraction(40))
    rec = RecordSink(tmp_path / "r.mkv", W, H, src.fps)
    sink = ListSink()
    stats = run_stream(src, Pipeline(model_path, temporal=True), [rec, sink])
    assert stats.ended == "end" and rec.frames == stats.shown == len(sink.captured) >= 2
    np.testing.assert_allclose(recorded_times(tmp_path / "r.mkv"), [t - sink.captured[0] for t in sink.captured],
                               atol=1.5e-3)
    assert recorded_times(tmp_path / "r.mkv")[-1] >= 0.9 * (sink.indices[-1] - sink.indices[0]) / 20


def test_recording_with_no_frame_leaves_no_file(tmp_path: Path) -> None:
    need_av()
    rec = RecordSink(tmp_path / "none.mp4", W, H, Fraction(30))
    rec.close()
    assert list(tmp_path.iterdir()) == []


def test_pipeline_errors_reach_the_caller_and_sinks_are_closed() -> None:
    class Broken(GatedPipeline):
        def process(self, rgb: np.ndarray) -> np.ndarray:
            raise ValueError("model exploded")

    sink = ListSink()
    with pytest.raises(ValueError, match="exploded"):
        run_stream(SyntheticSource(split_image(H, W), fps=200, count=5), Broken(threading.Event()), [sink])
    assert sink.closed


def test_stats_status_line_and_empty_percentiles() -> None:
    s = StreamStats()
    assert np.isnan(s.percentile("latency", 50)) and s.fps() == 0.0
    assert "fps" in s.status_line()
    assert s.stage_line() == "" and s.live_stages() == {}


def test_live_figures_are_medians_over_the_recent_frames() -> None:
    s = StreamStats()
    for i in range(100):
        old = i < 100 - camera.LIVE  # the first 70 frames were slow: they no longer count
        for name, ms in (("segment", 10.0), ("refine", 2.0), ("effect", 3.0), ("compose", 1.0), ("wait", 5.0)):
            s.add(name, ms * (50 if old else 1) + i % 3)
        s.add("latency", 400.0 if old else 40.0 + i % 5)
    assert s.live_stages() == {"segment": 11.0, "refine": 3.0, "effect": 4.0, "compose": 2.0, "latency": 42.0}
    assert s.stage_line() == "median ms: segment 11.0  refine 3.0  effect 4.0  compose 2.0  end-to-end 42"
    assert "latency 42 ms" in s.status_line()


def test_key_message_shows_for_a_moment(model_path: Path) -> None:
    """What a key did is shown in the overlay for MESSAGE_SECONDS, then dropped."""
    from segblur.media.preview import MESSAGE_SECONDS

    c = Controls()
    assert c.recent_message() == ""
    assert handle_key(ord("m"), c, Pipeline(model_path)) == "mask view"
    assert c.recent_message() == "mask view"
    assert c.recent_message(now=c.message_at + MESSAGE_SECONDS + 0.1) == ""
