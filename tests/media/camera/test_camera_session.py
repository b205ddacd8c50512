"""media.camera.session: source and outputs from plain settings; through ``segblur camera``, a file played headless."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from camera_fakes import FakeVirtualCam, H, ListSink, W, decoded, need_pyvirtualcam, run, write_clip
from conftest import split_image

from segblur.media.camera import (
    CameraSession,
    CameraSettings,
    SinkError,
    StreamError,
    SyntheticSource,
    open_camera,
    session,
)
from segblur.runtime.pipeline import Pipeline


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 60)  # 0.6 s at 100 fps: time for a few frames on a busy machine


def test_file_source_headless_stops_after_n_frames(clip: Path, model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--frames", "5", "--model", model_path)
    assert code == 0, err
    shown, captured, dropped = (int(v) for v in re.search(r"(\d+) frames shown of (\d+) captured \((\d+) dropped",
                                                            err).groups())
    assert shown == 5 and captured == shown + dropped
    assert "latency capture to output: median" in err and "segment" in err
    assert re.search(r"fps; CPU \d+ % of one core on average \([\d.]+ ms per frame shown\)", err), err
    # The headless progress line carries the live per-stage and end-to-end medians.
    assert re.search(r"5/5 frames .*median ms: segment [\d.]+  refine [\d.]+  effect [\d.]+  compose [\d.]+  "
                     r"end-to-end \d+", err), err


def test_file_source_ends_with_the_file(clip: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--model", model_path)
    assert code == 0, err
    shown, captured, dropped = (int(v) for v in re.search(r"(\d+) frames shown of (\d+) captured \((\d+) dropped",
                                                            err).groups())
    assert captured == 60 and shown + dropped == 60 and shown >= 1


def test_open_camera_sets_up_the_outputs_the_settings_ask_for(clip: Path, tmp_path: Path, model_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    pyvirtualcam = need_pyvirtualcam()
    FakeVirtualCam.instances = []
    monkeypatch.setattr(pyvirtualcam, "Camera", FakeVirtualCam)
    out = tmp_path / "rec.mkv"
    live = open_camera(CameraSettings(clip, preview=False, virtual=True, record=out))
    (cam,) = FakeVirtualCam.instances
    assert live.window is None and live.sinks == [live.virtual, live.recorder]
    assert live.describe() == (f"{clip}: {W}x{H} at 100 fps -> virtual camera /dev/video42, recording to {out}; "
                               "Ctrl-C stops")
    stats = live.run(Pipeline(model_path, temporal=True), frames=3)
    assert stats.ended == "frames" and len(cam.frames) == 3 == live.recorder.frames and cam.closed
    assert len(decoded(out)) == 3


class ClosingSource(SyntheticSource):
    def __init__(self) -> None:
        super().__init__(split_image(H, W), fps=200, count=50)
        self.closed = False

    def close(self) -> None:
        self.closed = True


def test_an_output_that_cannot_be_set_up_closes_what_was_opened(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pyvirtualcam = need_pyvirtualcam()
    FakeVirtualCam.instances = []
    monkeypatch.setattr(pyvirtualcam, "Camera", FakeVirtualCam)
    source = ClosingSource()
    monkeypatch.setattr(session, "open_source", lambda *a: source)
    with pytest.raises(SinkError, match="x.gif"):
        open_camera(CameraSettings("anything", preview=False, virtual=True, record=tmp_path / "x.gif"))
    assert source.closed and FakeVirtualCam.instances[0].closed


def test_a_file_cannot_be_recorded_over_its_source(clip: Path) -> None:
    with pytest.raises(SinkError, match="is the source"):
        open_camera(CameraSettings(clip, preview=False, record=clip))


class BrokenDisk(ListSink):
    def send(self, rgb: np.ndarray, index: int, captured: float) -> None:
        super().send(rgb, index, captured)
        if len(self.indices) == 2:
            raise OSError(28, "No space left on device")


def test_an_output_failing_mid_stream_is_one_line_and_everything_is_closed(model_path: Path) -> None:
    source, broken, other = ClosingSource(), BrokenDisk(), ListSink()
    live = CameraSession(source, recorder=broken, virtual=other)
    with pytest.raises(StreamError) as e:
        live.run(Pipeline(model_path))
    assert str(e.value) == "synthetic: stream stopped (No space left on device)"
    assert source.closed and broken.closed and other.closed


def test_the_progress_line_counts_to_what_the_file_holds(tmp_path: Path, model_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    clip = write_clip(tmp_path / "short.mp4", 12)
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--frames", "300", "--model", model_path)
    assert code == 0, err
    assert "/300" not in err  # it said "1/300 frames ... ETA" for a 12-frame file
    assert re.search(r"\d+/12 frames", err), err
    live = open_camera(CameraSettings(clip, preview=False))
    with live:
        assert (live.expected_frames(), live.expected_frames(5), live.expected_frames(300)) == (12, 5, 12)
    assert CameraSession(SyntheticSource(np.zeros((H, W, 3), np.uint8))).expected_frames() is None


def test_an_interruption_before_streaming_leaves_no_recording_temp_file(tmp_path: Path, clip: Path) -> None:
    out = tmp_path / "rec.mp4"
    with pytest.raises(KeyboardInterrupt), open_camera(CameraSettings(clip, preview=False, record=out)):
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".segblur-")]  # the recording's temp file
        raise KeyboardInterrupt  # Ctrl-C or SIGTERM while the model loads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_recording_over_the_model_or_a_background_is_refused(tmp_path: Path, clip: Path, model_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.mkv"
    model.write_bytes(model_path.read_bytes())
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--record", model, "--model", model)
    assert code == 2 and "is the input" in err and model.read_bytes() == model_path.read_bytes()


def test_a_frame_size_over_the_pixel_limit_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    from segblur.cli.main import main

    with pytest.raises(SystemExit) as ei:
        main(["camera", "--size", "100000x100000", "--no-preview"])
    assert ei.value.code == 2
    err = capsys.readouterr().err
    assert "100000x100000 is 10000 MP, over the limit" in err and "Traceback" not in err


@pytest.mark.parametrize("option", [["--governor"], ["--max-cpu", "40"], ["--target-fps", "25"]])
def test_the_governor_is_reported_at_the_end(clip: Path, model_path: Path, capsys: pytest.CaptureFixture[str],
                                             option: list[str]) -> None:
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--frames", "5", "--model", model_path,
                    *option)
    assert code == 0, err
    assert re.search(r"governor: model on \d+ of \d+ frames, probability held on \d+, matte and background reused "
                     r"on \d+", err), err
    if option[0] != "--governor":
        assert "budget" in err  # a named model is kept, so nothing was chosen for it


@pytest.mark.parametrize("bad", [["--max-cpu", "0"], ["--max-cpu", "lots"], ["--target-fps", "-1"]])
def test_a_bad_budget_is_one_line(model_path: Path, capsys: pytest.CaptureFixture[str], bad: list[str]) -> None:
    with pytest.raises(SystemExit) as e:  # refused by the parser, before any camera is opened
        run(capsys, "camera", "--source", "0", "--no-preview", "--model", model_path, *bad)
    err = capsys.readouterr().err
    assert e.value.code == 2 and "Traceback" not in err and f"argument {bad[0]}" in err
