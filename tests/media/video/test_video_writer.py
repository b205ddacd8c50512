"""media.video.writer: VideoWriter's atomic output, odd sizes and rates, output problems."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_naming

av = pytest.importorskip("av")

from video_clips import frame_at, leftovers, make_video, video_frames  # noqa: E402

from segblur.cli.main import main  # noqa: E402
from segblur.media.video import VideoError, VideoWriter, process_video  # noqa: E402
from segblur.runtime.pipeline import Pipeline  # noqa: E402


@pytest.fixture
def pipe(model_path: Path) -> Pipeline:
    return Pipeline(model_path, effect="color", color="#0000ff", temporal=True)


def test_fractional_rate_and_odd_size(tmp_path: Path, pipe: Pipeline) -> None:
    src = make_video(tmp_path / "ntsc.mp4", frames=10, fps=Fraction(30000, 1001), size=(66, 50))
    t_in, _, _ = video_frames(src)
    stats = process_video(src, tmp_path / "ntsc-out.mp4", pipe)
    t_out, f_out, vs = video_frames(tmp_path / "ntsc-out.mp4")
    assert vs["rate"] == Fraction(30000, 1001) and stats.fps == Fraction(30000, 1001)
    np.testing.assert_allclose(t_out, t_in, atol=1e-3)
    # An odd size cannot be stored in 4:2:0; it is padded by one edge pixel.
    with VideoWriter(tmp_path / "odd.mp4", 63, 47, 10) as w:
        for i in range(3):
            w.write(frame_at(i, 63, 47))
    _, f_odd, vs_odd = video_frames(tmp_path / "odd.mp4")
    assert len(f_odd) == 3 and vs_odd["size"] == (64, 48)


def test_video_writer_is_atomic_and_aborts_on_error(tmp_path: Path) -> None:
    dst = tmp_path / "rec.mp4"
    w = VideoWriter(dst, 32, 24, Fraction(25))
    w.write(frame_at(0, 32, 24))
    assert not dst.exists() and len(leftovers(tmp_path)) == 1  # only the temp file while recording
    w.close()
    assert dst.is_file() and not leftovers(tmp_path)
    assert len(video_frames(dst)[1]) == 1
    with pytest.raises(RuntimeError), VideoWriter(tmp_path / "b.webm", 32, 24, 25) as w2:
        w2.write(frame_at(0, 32, 24))
        raise RuntimeError("boom")
    assert not (tmp_path / "b.webm").exists() and not leftovers(tmp_path)
    with VideoWriter(tmp_path / "c.mkv", 32, 24, 25) as w3, pytest.raises(ValueError):
        w3.write(np.zeros((10, 10, 3), np.uint8))  # wrong size: refused, the writer still works
    with pytest.raises(VideoError) as e:
        VideoWriter(tmp_path / "x.gif", 32, 24, 25)
    assert_one_line_naming(e.value, tmp_path / "x.gif")


def test_output_problems(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / "in.mkv", frames=4)
    before = src.read_bytes()
    assert main(["video", str(src), "-o", str(src), "--model", str(model_path), "-q"]) == 2  # refused up front
    assert_one_line_naming(capsys.readouterr().err.strip(), src)
    assert src.read_bytes() == before
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not _can_write(locked):
            assert main(["video", str(src), "-o", str(locked / "o.mkv"), "--model", str(model_path), "-q"]) == 1
            assert_one_line_naming(capsys.readouterr().err.strip(), locked / "o.mkv")
            assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["video", str(src), "-o", str(blocker / "o.mkv"), "--model", str(model_path), "-q"]) == 2
    assert_one_line_naming(capsys.readouterr().err.strip(), blocker / "o.mkv")  # folder cannot be made: up front
    assert main(["video", str(src), "-o", str(tmp_path / "o.xyz"), "--model", str(model_path), "-q"]) == 2
    assert_one_line_naming(capsys.readouterr().err.strip(), tmp_path / "o.xyz")  # a bad output: up front


def _can_write(folder: Path) -> bool:
    """True when running as root (permissions do not stop us, so the unwritable case cannot be made)."""
    try:
        (folder / ".w").touch()
    except OSError:
        return False
    (folder / ".w").unlink()
    return True


def test_an_interruption_while_the_writer_opens_leaves_no_temp_file(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # SIGTERM arrives as a KeyboardInterrupt; during __init__ there was no `with` block yet to abort the temp file.
    src = make_video(tmp_path / "in.mp4", frames=2)

    def interrupted(*args: object, **kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("segblur.media.video.writer.Passthrough", interrupted)
    with av.open(str(src)) as c, pytest.raises(KeyboardInterrupt):
        VideoWriter(tmp_path / "out" / "o.mp4", 64, 48, 12, audio_from=c)
    assert leftovers(tmp_path / "out") == []
