"""media.video.reader: probing, timestamps, rotation, and bad inputs named in one line."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_naming

av = pytest.importorskip("av")

from video_clips import frame_at, make_video, video_frames  # noqa: E402

from segblur.cli.main import main  # noqa: E402
from segblur.media.video import probe_video, process_video  # noqa: E402
from segblur.runtime.pipeline import Pipeline  # noqa: E402


@pytest.fixture
def pipe(model_path: Path) -> Pipeline:
    return Pipeline(model_path, effect="color", color="#0000ff", temporal=True)


def test_probe_video(tmp_path: Path) -> None:
    info = probe_video(make_video(tmp_path / "p.mp4", frames=10))
    assert (info.width, info.height, info.fps, info.frames, info.copied_streams) == (64, 48, 12, 10, 1)
    assert info.duration == pytest.approx(10 / 12, abs=0.05)


def test_variable_frame_rate_keeps_every_timestamp(tmp_path: Path, pipe: Pipeline) -> None:
    pts = [0, 40, 120, 130, 300, 310, 320, 600, 700, 705]  # ms: irregular gaps
    src = make_video(tmp_path / "vfr.mkv", frames=len(pts), pts=pts, time_base=Fraction(1, 1000), audio=False)
    stats = process_video(src, tmp_path / "vfr-out.mkv", pipe)
    t_out, _, _ = video_frames(tmp_path / "vfr-out.mkv")
    np.testing.assert_allclose(t_out, [p / 1000 for p in pts], atol=1e-3)
    assert stats.frames == len(pts) and stats.copied_streams == 0


def test_rotated_video_keeps_its_rotation(tmp_path: Path, pipe: Pipeline) -> None:
    src = tmp_path / "rot.mp4"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.set_display_rotation(90)
        for i in range(4):
            f = av.VideoFrame.from_ndarray(frame_at(i, 64, 48), format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    seen = []
    pipe.push = lambda rgb: (seen.append(rgb.shape), rgb.copy())[1]  # a file's frames are pushed
    process_video(src, tmp_path / "rot-out.mp4", pipe)
    assert seen[0] == (64, 48, 3)  # the pipeline sees the picture upright
    with av.open(str(tmp_path / "rot-out.mp4")) as c:
        f = next(c.decode(video=0))
        assert (f.width, f.height, f.rotation) == (64, 48, 90)


@pytest.mark.parametrize("case", ["audio-only", "truncated-mp4", "truncated-mkv", "not-video", "empty", "missing"])
def test_bad_input_one_line_no_output(tmp_path: Path, model_path: Path, case: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / {"truncated-mkv": "in.mkv", "audio-only": "in.m4a", "not-video": "in.mp4"}.get(case, "in.mp4")
    if case == "audio-only":
        make_video(src, video=False)
    elif case.startswith("truncated"):
        make_video(src, frames=30)
        data = src.read_bytes()
        src.write_bytes(data[: len(data) // 2])
    elif case == "not-video":
        src.write_text("hello, not a video\n" * 20)
    elif case == "empty":
        src.write_bytes(b"")
    dst = tmp_path / "out" / "o.mp4"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert_one_line_naming(err, src)
    assert not dst.exists() and (not dst.parent.exists() or not list(dst.parent.iterdir()))


@pytest.mark.parametrize("suffix", [".mkv", ".webm", ".mp4"])
def test_a_complete_file_whose_timestamps_start_late_is_not_truncated(tmp_path: Path, suffix: str) -> None:
    """Matroska's duration counts from 0, MP4's is the span: a whole .mkv starting at 5 s (a -copyts remux) was
    refused as "truncated (data ends at 9.00 s of 14.00 s)"; the same file cut in half still is."""
    import av

    from segblur.media.video.reader import truncation

    src = tmp_path / f"late{suffix}"
    with av.open(str(src), "w") as c:
        s = c.add_stream("libvpx-vp9" if suffix == ".webm" else "libx264", rate=10)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        for i in range(40):
            f = av.VideoFrame.from_ndarray(np.full((64, 96, 3), i * 5, np.uint8), format="rgb24")
            f.pts, f.time_base = i + 50, Fraction(1, 10)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with av.open(str(src)) as c:
        assert truncation(c, 9.0, Fraction(10)) is None  # the last frame ends at 9 s
        assert truncation(c, 6.0, Fraction(10)) == "truncated (data ends at 6.00 s of 9.00 s)"
