"""media.camera.stream: the threaded loop drops stale frames, stops on keys, errors, loss, Ctrl-C."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest
from camera_fakes import (
    ExhaustibleSource,
    FakeCapture,
    FakeWindow,
    GatedPipeline,
    H,
    ListSink,
    W,
    decoded,
    need_av,
    run,
)
from conftest import split_image

from segblur.media.camera import Controls, RecordSink, SyntheticSource, run_stream, sources
from segblur.runtime.pipeline import Pipeline


def test_keys_from_the_window_reach_the_stream(model_path: Path) -> None:
    """m switches the output to the mask view; q ends the stream (ended == quit)."""
    pipe = Pipeline(model_path, temporal=True)
    win = FakeWindow({2: ord("m"), 4: ord("q")})
    src = SyntheticSource(split_image(H, W), fps=200)
    controls = Controls()
    stats = run_stream(src, pipe, [win], controls=controls)
    assert stats.ended == "quit" and pipe.view == "mask"
    assert len(win.indices) == 4 and win.closed
    assert "fps" in win.statuses[-1] and "[mask]" in win.statuses[-1]
    # The overlay's second line: median ms per stage and end to end over the recent frames.
    assert re.search(r"\nmedian ms: segment [\d.]+ .*compose [\d.]+  end-to-end \d+$", win.statuses[-1])



def test_the_mask_view_is_what_every_sink_gets_after_m(model_path: Path) -> None:
    """The pipeline renders the mask view: after m, the window and the other sinks get the grey alpha."""
    pipe = Pipeline(model_path, effect="color", color="#0000ff")
    win, other = FakeWindow({1: ord("m"), 6: ord("q")}), ListSink()
    run_stream(SyntheticSource(split_image(H, W), fps=200), pipe, [win, other], controls=Controls())

    def grey(rgb: np.ndarray) -> bool:
        return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())

    assert len(win.frames) == len(other.frames) == 6
    assert not grey(win.frames[0])  # the effect view: a blue background
    assert grey(win.frames[-1]) and grey(other.frames[-1])  # frames still in flight at the key may be either
    assert win.frames[-1][:, :4].min() > 200 and win.frames[-1][:, -4:].max() < 50  # white: the person

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
    assert stats.wall_seconds > 0 and stats.cpu_seconds > 0  # the process's CPU over the stream's wall time
    assert s["cpu_percent"] == pytest.approx(100 * stats.cpu_seconds / stats.wall_seconds)
    assert s["cpu_ms_per_frame"] == pytest.approx(1e3 * stats.cpu_seconds / 3)


def test_camera_lost_mid_stream_exits_1_and_keeps_the_recording(tmp_path: Path, model_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    need_av()
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda dev: FakeCapture(frames=6))
    monkeypatch.setattr(sources, "LOST_AFTER_S", 0.05)
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


def test_pipeline_errors_reach_the_caller_and_sinks_are_closed() -> None:
    class Broken(GatedPipeline):
        def process(self, rgb: np.ndarray) -> np.ndarray:
            raise ValueError("model exploded")

    sink = ListSink()
    with pytest.raises(ValueError, match="exploded"):
        run_stream(SyntheticSource(split_image(H, W), fps=200, count=5), Broken(threading.Event()), [sink])
    assert sink.closed
