"""The signal sweep: image, video, camera --record, train and export stopped by SIGTERM, SIGHUP and SIGINT mid-run,
and killed by SIGKILL and run again, as separate processes. Afterwards no temp file is left and nothing is lost:
outputs are whole or absent, a recording is finalised and kept, a checkpoint loads and the training log holds every
finished epoch once (after --resume too), and a killed run's temp file is removed by the next run into the folder.
The commands that write nothing but run until stopped or for long (serve, benchmark --stream) end on those signals
the same way.

Each case says how to start the command, when it is surely mid-run (it is wrong to signal a run that has finished),
and what must hold after a clean stop. Synthetic inputs and the tiny test model: no ../shared/data needed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import save_image

from segblur.io import STALE_AFTER_S, TEMP_PREFIX

av = pytest.importorskip("av")
START_S = 90.0  # a loaded 2-core machine takes seconds to import the runtime; a run reaching mid-work in 90 s is late


@dataclass
class Case:
    """A command for the sweep: ``argv``, its output folder, when it is mid-run, what must hold after a clean stop
    (``check(out)``), and a quick ``rerun`` into the same folder for the SIGKILL case (``{resume_epochs}`` in it:
    two epochs beyond the checkpoint), with what must hold after it (``after_rerun(out)``)."""

    argv: list[str]
    out: Path
    busy: Callable[[Path], bool]
    check: Callable[[Path], None]
    rerun: list[str]
    after_rerun: Callable[[Path], None] = lambda out: None


def temps(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"{TEMP_PREFIX}*")) if folder.exists() else []


def segblur(*argv: str | Path) -> list[str]:
    return [sys.executable, "-m", "segblur", *(str(a) for a in argv)]


def _frames(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def make_clip(path: Path, frames: int, size: tuple[int, int] = (160, 120), fps: int = 25) -> Path:
    """A synthetic H.264 clip: a red square moving over green."""
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = *size, "yuv420p"
        s.codec_context.options = {"preset": "ultrafast"}
        for i in range(frames):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[..., 1] = 200
            img[size[1] // 3:2 * size[1] // 3, i % size[0]:i % size[0] + size[1] // 3] = (255, 0, 0)
            c.mux(s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        c.mux(s.encode(None))
    return path


def image_case(tmp_path: Path, model: Path) -> Case:
    photos = tmp_path / "photos"
    rng = np.random.default_rng(0)
    for i in range(40):
        save_image(photos / f"p{i:02d}.png", rng.integers(0, 255, (700, 700, 3), dtype=np.uint8))
    out = tmp_path / "blurred"

    def check(folder: Path) -> None:  # every output written is whole; none is half-written
        from segblur.media.images import read_image

        done = sorted(folder.glob("*.png"))
        assert 0 < len(done) < 40
        for p in done:
            assert read_image(p).shape == (700, 700, 3)

    return Case(segblur("image", photos, "-o", out, "--model", model, "--threads", "1"), out,
                lambda folder: any(folder.glob("*.png")), check,
                segblur("image", photos / "p00.png", "-o", out / "again.png", "--model", model, "--threads", "1"))


def video_case(tmp_path: Path, model: Path) -> Case:
    clip = make_clip(tmp_path / "talk.mp4", 400, (320, 240))
    out = tmp_path / "o"

    def check(folder: Path) -> None:  # the unfinished video is not there at all
        assert not (folder / "t.mp4").exists()

    short = make_clip(tmp_path / "short.mp4", 3)
    return Case(segblur("video", clip, "-o", out / "t.mp4", "--model", model, "--threads", "1"), out,
                lambda folder: bool(temps(folder)), check,
                segblur("video", short, "-o", out / "t.mp4", "--model", model, "--threads", "1"))


def camera_case(tmp_path: Path, model: Path) -> Case:
    clip = make_clip(tmp_path / "clip.mp4", 600, fps=30)  # 20 s, played in real time
    out = tmp_path / "rec"
    started: list[float] = []

    def busy(folder: Path) -> bool:  # recording for 3 s: frames are in it
        if temps(folder) and not started:
            started.append(time.monotonic())
        return bool(started) and time.monotonic() - started[0] > 3

    def check(folder: Path) -> None:  # the recording is finalised and kept
        assert (folder / "r.mp4").is_file() and _frames(folder / "r.mp4") > 0

    return Case(segblur("camera", "--source", clip, "--no-preview", "--record", out / "r.mp4", "--model", model,
                        "--threads", "1"), out, busy, check,
                segblur("camera", "--source", clip, "--no-preview", "--record", out / "r.mp4", "--model", model,
                        "--frames", "3", "-q"))


def _log_epochs(run: Path) -> list[int]:
    import csv

    with open(run / "log.csv", newline="") as f:
        return [int(r["epoch"]) for r in csv.DictReader(f)]


def train_case(tmp_path: Path, model: Path) -> Case:
    pytest.importorskip("torch")
    from conftest import make_folder_dataset

    data = make_folder_dataset(tmp_path / "discs", n=12, size=32)
    run = tmp_path / "run"
    common = ["--no-tensorboard", "--threads", "1", "-q", "--steps-per-epoch", "2"]

    def check(folder: Path) -> None:  # the checkpoint loads, and the log has every finished epoch once
        from segblur.training.checkpoint import load

        done = load(folder / "last.pt")["epoch"] + 1
        assert _log_epochs(folder) in (list(range(1, done + 1)), list(range(1, done + 2)))

    def after_resume(folder: Path) -> None:  # resumed to two epochs beyond the killed run's checkpoint
        from segblur.training.checkpoint import load

        done = load(folder / "last.pt")["epoch"] + 1
        assert _log_epochs(folder) == list(range(1, done + 1))  # every finished epoch exactly once

    return Case(segblur("train", "--data", f"folder:{data}", "--arch", "unet", "--arch-option", "width=4",
                        "--image-size", "32", "--batch-size", "3", "--epochs", "500", "--out", run, *common), run,
                lambda folder: (folder / "last.pt").exists(), check,
                segblur("train", "--out", run, "--resume", "--epochs", "{resume_epochs}", *common), after_resume)


def export_case(tmp_path: Path, model: Path) -> Case:
    pytest.importorskip("torch")
    from conftest import save_tiny_checkpoint

    ck = tmp_path / "runs" / "last.pt"
    save_tiny_checkpoint(ck)
    cal = tmp_path / "photos"
    rng = np.random.default_rng(1)
    for i in range(200):
        save_image(cal / f"c{i:03d}.png", rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    out = tmp_path / "models"

    def check(folder: Path) -> None:  # no half-made model
        assert not (folder / "q.onnx").exists()

    return Case(segblur("export", ck, "-o", out / "q.onnx", "--int8", "--calibration", cal), out,
                lambda folder: bool(temps(folder)), check, segblur("export", ck, "-o", out / "m.onnx"))


CASES = {"image": image_case, "video": video_case, "camera --record": camera_case, "train": train_case,
         "export": export_case}


def start_mid_run(case: Case, cwd: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(case.argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + START_S
    while not case.busy(case.out):
        if proc.poll() is not None:
            pytest.fail(f"{case.argv[3]} ended (status {proc.returncode}) before it could be stopped: "
                        f"{proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"{case.argv[3]} did not get going within {START_S:g} s")
        time.sleep(0.02)
    return proc


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_stopped_run_leaves_no_temp_file_and_loses_nothing(tmp_path: Path, model_path: Path, name: str,
                                                             sig: str) -> None:
    case = CASES[name](tmp_path, model_path)
    proc = start_mid_run(case, tmp_path)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + getattr(signal, sig), err[-2000:]  # not killed by the signal: it cleaned up
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("segblur: interrupted" if sig == "SIGINT" else
                                            f"segblur: terminated ({sig})")
    assert temps(case.out) == []
    case.check(case.out)


@pytest.mark.parametrize("name", list(CASES))
def test_after_sigkill_the_next_run_into_the_folder_removes_the_stale_temp_file(tmp_path: Path, model_path: Path,
                                                                                name: str) -> None:
    case = CASES[name](tmp_path, model_path)
    proc = start_mid_run(case, tmp_path)
    deadline = time.monotonic() + 5
    while not temps(case.out) and time.monotonic() < deadline:  # image, train: try to catch a write in progress
        time.sleep(0.001)
    proc.kill()
    proc.communicate(timeout=60)
    left = temps(case.out)
    if not left:  # the kill fell between two files (image): leave one as a killed write would
        left = [case.out / f"{TEMP_PREFIX}0badc0de.tmp"]
        left[0].write_bytes(b"half")
    old = time.time() - STALE_AFTER_S - 60
    for p in left:
        os.utime(p, (old, old))  # as if the run had been killed a while ago
    fresh = case.out / f"{TEMP_PREFIX}00c0ffee.tmp"  # a run writing there right now: not touched
    fresh.write_bytes(b"in progress")
    argv = case.rerun
    if "{resume_epochs}" in argv:
        from segblur.training.checkpoint import load

        epochs = str(load(case.out / "last.pt")["epoch"] + 3)
        argv = [epochs if a == "{resume_epochs}" else a for a in argv]
    rerun = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=300,
                           env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)})
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert temps(case.out) == [fresh]
    case.after_rerun(case.out)


# Commands that write nothing and run until stopped or for long: the argv after ``segblur`` ("{model}": the tiny
# model), the start of the stderr line that says the run is under way, and the seconds to wait after it to be in the
# thick of the run.
UNTIL_STOPPED = {
    "serve": (["serve", "--port", "0"], "segblur: serving ", 0.0),
    # 1 s after its line the first stream run is going (the tiny model warms up in milliseconds): a stop there
    # must end the benchmark, not only that run.
    "benchmark --stream": (["benchmark", "--model", "{model}", "--size", "64x48", "--repeats", "1", "--threads", "1",
                            "--stream", "--stream-seconds", "10", "--file-frames", "0"], "segblur: stream: ", 1.0),
}


@pytest.mark.parametrize("name", list(UNTIL_STOPPED))
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_command_stopped_mid_run_ends_with_the_signals_status_and_line(tmp_path: Path, model_path: Path, name: str,
                                                                         sig: str) -> None:
    argv, under_way, settle_s = UNTIL_STOPPED[name]
    argv = segblur(*(str(model_path) if a == "{model}" else a for a in argv))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            if line.startswith(under_way):
                seen.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + START_S
    while not seen.wait(0.05):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            reader.join()
            pytest.fail(f"{name} did not get going (status {proc.returncode}): {''.join(lines)[-2000:]}")
    time.sleep(settle_s)
    proc.send_signal(getattr(signal, sig))
    proc.wait(timeout=120)
    reader.join()
    err = "".join(lines)
    assert proc.returncode == 128 + getattr(signal, sig), err[-2000:]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == ("segblur: interrupted" if sig == "SIGINT" else
                                            f"segblur: terminated ({sig})")
