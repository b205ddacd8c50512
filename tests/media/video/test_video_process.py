"""media.video.process: the threaded loop equals the serial one; failures and Ctrl-C in any stage."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_naming

av = pytest.importorskip("av")

from video_clips import leftovers, make_video, packets, video_frames, video_threads  # noqa: E402

from segblur.cli.main import main  # noqa: E402
from segblur.media.video import VideoError, VideoWriter, process_video, reader  # noqa: E402
from segblur.runtime.pipeline import Pipeline  # noqa: E402


@pytest.fixture
def pipe(model_path: Path) -> Pipeline:
    return Pipeline(model_path, effect="color", color="#0000ff", temporal=True)


def test_threaded_output_equals_the_serial_loop(tmp_path: Path, pipe: Pipeline, monkeypatch) -> None:
    src = make_video(tmp_path / "in.mkv", frames=20)
    sent: dict[str, list] = {}
    write = VideoWriter.write

    def recording_write(self, rgb, pts=None):
        sent.setdefault(self.path.name, []).append((np.array(rgb, copy=True), pts))
        return write(self, rgb, pts)

    monkeypatch.setattr(VideoWriter, "write", recording_write)
    threaded = process_video(src, tmp_path / "thr.mkv", pipe)
    serial = process_video(src, tmp_path / "ser.mkv", pipe, threads=False)
    assert threaded.frames == serial.frames == 20 and not video_threads()
    # Same frames in the same order with the same timestamps reach the encoder. (The encoded bytes are not
    # compared: x264 itself, with these options, now and then encodes identical input differently under load.)
    thr, ser = sent["thr.mkv"], sent["ser.mkv"]
    assert len(thr) == len(ser) == 20
    assert all(np.array_equal(a, b) and pa == pb for (a, pa), (b, pb) in zip(thr, ser))
    assert [p[1:] for p in packets(tmp_path / "thr.mkv", "video")] == \
        [p[1:] for p in packets(tmp_path / "ser.mkv", "video")]  # packet times and durations
    assert packets(tmp_path / "thr.mkv", "audio") == packets(src, "audio")
    assert video_frames(tmp_path / "thr.mkv")[0] == video_frames(src)[0]
    assert {"decode", "segment", "pipeline", "encode", "pipeline waiting"} <= set(threaded.stage_ms)
    assert all(v >= 0 for v in threaded.stage_ms.values()) and "pipeline waiting" not in serial.stage_ms


def _fail_in(stage: str, when: int, exc: BaseException,
             monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[int]]:
    """Make the decode, pipeline or encode stage raise ``exc`` at its ``when``-th call of a run.

    Returns the names of the threads it was raised in, and the call count to clear between runs.
    """
    seen: list[str] = []
    calls: list[int] = []

    def hit(n: int) -> None:
        if n == when:
            seen.append(threading.current_thread().name)
            raise exc

    if stage == "decode":
        real_packets = reader.demux

        def failing_packets(container, path):
            for n, packet in enumerate(real_packets(container, path)):
                hit(n)
                yield packet

        monkeypatch.setattr(reader, "demux", failing_packets)
    else:
        cls, name = (Pipeline, "push") if stage == "pipeline" else (VideoWriter, "write")  # files are pushed
        real = getattr(cls, name)

        def failing(self, *a, **kw):
            calls.append(1)
            hit(len(calls))
            return real(self, *a, **kw)

        monkeypatch.setattr(cls, name, failing)
    return seen, calls


@pytest.mark.parametrize("stage", ["decode", "pipeline", "encode"])
def test_error_in_any_stage_is_one_line_and_stops_everything(tmp_path: Path, model_path: Path, stage: str,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / "in.mp4", frames=16)
    dst = tmp_path / "out.mp4"
    named = {"decode": src, "pipeline": src, "encode": dst}[stage]
    exc = {"decode": VideoError(f"{src}: cannot read, truncated or corrupt (Invalid data)"),
           "pipeline": ValueError("the model returned NaN"),
           "encode": VideoError(f"{dst}: cannot write (No space left on device)")}[stage]
    seen, calls = _fail_in(stage, 5, exc, monkeypatch)
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert_one_line_naming(err, named)
    assert "NaN" in err if stage == "pipeline" else str(exc) in err
    assert seen == [{"decode": "segblur-video-decode", "pipeline": "MainThread",
                     "encode": "segblur-video-encode"}[stage]]
    assert not dst.exists() and not leftovers(tmp_path) and not video_threads()
    # The one-thread loop fails with the same error.
    pipe = Pipeline(model_path)
    calls.clear()
    with pytest.raises(type(exc)) as threaded:
        process_video(src, dst, pipe)
    calls.clear()
    with pytest.raises(type(exc)) as serial:
        process_video(src, dst, pipe, threads=False)
    assert str(threaded.value) == str(serial.value) == str(exc)
    assert not dst.exists() and not leftovers(tmp_path) and not video_threads()


@pytest.mark.parametrize("stage", ["decode", "pipeline", "encode"])
def test_keyboard_interrupt_in_any_stage_cleans_up(tmp_path: Path, model_path: Path, stage: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / "in.mkv", frames=16)
    _fail_in(stage, 4, KeyboardInterrupt(), monkeypatch)
    dst = tmp_path / "o.mkv"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not dst.exists() and not leftovers(tmp_path) and not video_threads()


def test_ctrl_c_while_waiting_for_frames(tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SIGINT reaches the caller's thread while it waits on the decode thread, which then stops too."""
    src = make_video(tmp_path / "in.mp4", frames=30)
    real_packets = reader.demux

    def slow_packets(container, path):
        for n, packet in enumerate(real_packets(container, path)):
            if n == 3:
                os.kill(os.getpid(), signal.SIGINT)
            if n >= 3:
                time.sleep(0.05)  # the pipeline thread is left waiting in its queue
            yield packet

    monkeypatch.setattr(reader, "demux", slow_packets)
    assert main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "--model", str(model_path), "-q"]) == 130
    assert not (tmp_path / "o.mp4").exists() and not leftovers(tmp_path) and not video_threads()


def test_keyboard_interrupt_leaves_nothing(tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / "in.mp4", frames=10)
    calls = []

    def push(self: Pipeline, image: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return image

    monkeypatch.setattr(Pipeline, "push", push)  # a file's frames are pushed (two-way smoothing)
    dst = tmp_path / "o.mp4"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 130
    assert not dst.exists() and not leftovers(tmp_path)
    assert "interrupted" in capsys.readouterr().err


def test_frames_in_flight_give_the_same_frames_and_leave_nothing_behind(tmp_path: Path, pipe: Pipeline,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_video(tmp_path / "in.mkv", frames=20)
    sent: dict[str, list] = {}
    write = VideoWriter.write

    def recording_write(self, rgb, pts=None):
        sent.setdefault(self.path.name, []).append(np.array(rgb, copy=True))
        return write(self, rgb, pts)

    monkeypatch.setattr(VideoWriter, "write", recording_write)
    segmenter = pipe.segmenter
    one = process_video(src, tmp_path / "one.mkv", pipe, workers=1)
    three = process_video(src, tmp_path / "three.mkv", pipe, workers=3)
    assert (one.workers, three.workers) == (1, 3)
    assert all(np.array_equal(a, b) for a, b in zip(sent["one.mkv"], sent["three.mkv"], strict=True))
    assert pipe.segmenter is segmenter  # the lookahead is gone again
    assert not [t.name for t in threading.enumerate() if t.name.startswith("segblur-model")]
    _fail_in("pipeline", 5, ValueError("boom"), monkeypatch)
    with pytest.raises(ValueError, match="boom"):
        process_video(src, tmp_path / "failed.mkv", pipe, workers=2)
    assert pipe.segmenter is segmenter and not video_threads()
    assert not [t.name for t in threading.enumerate() if t.name.startswith("segblur-model")]
