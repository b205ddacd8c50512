"""media.video.batch through ``segblur video``: every container, several inputs, PyAV missing."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from video_clips import leftovers, make_video, packets, video_frames  # noqa: E402

from segblur.cli.main import main  # noqa: E402
from segblur.media.video import VideoError, plan_outputs, process_video, process_videos  # noqa: E402
from segblur.runtime.pipeline import Pipeline  # noqa: E402


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".mkv", ".webm", ".avi"])
def test_each_container_keeps_size_rate_frames_and_audio(tmp_path: Path, model_path: Path, suffix: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / f"in{suffix}")
    dst = tmp_path / f"out{suffix}"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "--effect", "color",
                 "--color", "#0000ff"]) == 0
    assert dst.is_file() and not leftovers(tmp_path)
    t_in, f_in, vs_in = video_frames(src)
    t_out, f_out, vs_out = video_frames(dst)
    assert len(f_out) == len(f_in) == 12
    assert vs_out["size"] == (64, 48)
    assert vs_out["rate"] == vs_in["rate"] == 12
    if suffix == ".avi":  # AVI stores frame numbers, not timestamps: the spacing is what must match
        np.testing.assert_allclose(np.diff(t_out), np.diff(t_in), atol=1e-3)
        assert abs(t_out[0] - t_in[0]) <= 2 / 12 + 1e-6
    else:
        np.testing.assert_allclose(t_out, t_in, atol=1e-3)
    assert vs_out["codec"] == ("vp9" if suffix == ".webm" else "h264")
    # The background became blue, the red square stayed (within the codec's error).
    last = f_out[-1].astype(int)
    assert abs(last[2, 2] - (0, 0, 255)).max() < 40
    y, x = 16 + 8, (11 * 3) % (64 - 16) + 8
    assert abs(last[y, x] - (255, 0, 0)).max() < 40
    a_in, a_out = packets(src, "audio"), packets(dst, "audio")
    assert [p[0] for p in a_out] == [p[0] for p in a_in]  # copied byte for byte, not re-encoded
    np.testing.assert_allclose([p[1] for p in a_out], [p[1] for p in a_in], atol=2e-3)
    with av.open(str(dst)) as c, av.open(str(src)) as c_in:
        assert abs(c.duration - c_in.duration) / 1e6 < 0.1
    err = capsys.readouterr().err
    assert "12 frames" in err and str(dst) in err


def test_several_inputs_to_a_folder_and_no_temporal(tmp_path: Path, model_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    a = make_video(tmp_path / "a.mp4", frames=4)
    b = make_video(tmp_path / "b.webm", frames=4)
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"\x1a\x45\xdf\xa3 junk")
    seen: list[object] = []
    real = process_video

    def spy(src, dst, pipeline, **kw):
        seen.append(pipeline.temporal)
        return real(src, dst, pipeline, **kw)

    monkeypatch.setattr("segblur.media.video.batch.process_video", spy)
    out = tmp_path / "out"
    assert main(["video", str(a), str(bad), str(b), "-o", str(out), "--model", str(model_path), "-q",
                 "--no-temporal"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.webm"]
    assert seen == [None, None]  # bad.mkv is refused before processing
    assert main(["video", str(a), "-o", str(out / "t.mp4"), "--model", str(model_path), "-q"]) == 0
    assert seen[-1] is not None  # temporal smoothing is on by default for video


def test_several_inputs_end_with_a_tally_and_a_photo_is_not_a_video(tmp_path: Path, model_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    a = make_video(tmp_path / "a.mp4", frames=3)
    photo = tmp_path / "p.jpg"
    cv2.imwrite(str(photo), np.full((32, 48, 3), 128, np.uint8))
    out = tmp_path / "out"
    assert main(["video", str(a), str(photo), "-o", str(out), "--model", str(model_path)]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert f"segblur: {photo}: a still image, not a video; use segblur image for pictures" in lines
    assert lines[-1] == f"segblur: 1 written to {out}, 1 failed"
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]
    assert main(["video", str(a), "-o", str(tmp_path / "one.mp4"), "--model", str(model_path)]) == 0
    assert "written to" not in capsys.readouterr().err  # one input: its own summary line is enough
    assert main(["video", str(photo), "-o", str(tmp_path / "p.mp4"), "--model", str(model_path), "-q"]) == 1
    assert not (tmp_path / "p.mp4").exists()


def test_missing_pyav_is_one_error_for_all_inputs(tmp_path: Path, model_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    code = main(["video", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "-o", str(tmp_path / "out"),
                 "--model", str(model_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "PyAV" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1


def test_plan_outputs(tmp_path: Path) -> None:
    assert plan_outputs(["a.mp4"], tmp_path / "o.mkv") == [(Path("a.mp4"), tmp_path / "o.mkv")]
    assert plan_outputs(["x/a.mp4", "b.mov"], tmp_path) == [(Path("x/a.mp4"), tmp_path / "a.mp4"),
                                                             (Path("b.mov"), tmp_path / "b.mov")]
    (tmp_path / "file").write_text("x")
    with pytest.raises(VideoError, match="several inputs need an output folder"):
        plan_outputs(["a.mp4", "b.mp4"], tmp_path / "file")
    with pytest.raises(VideoError, match="names a file; several inputs"):  # it used to become a folder "x.MP4"
        plan_outputs(["a.mp4", "b.mp4"], tmp_path / "x.MP4")
    new = str(tmp_path / "new") + "/"  # a name ending in "/" is a folder, made if needed, even for one input
    assert plan_outputs(["x/a.mp4"], new) == [(Path("x/a.mp4"), tmp_path / "new" / "a.mp4")]
    (tmp_path / "dir.mp4").mkdir()  # an existing folder is a folder, whatever its name
    assert plan_outputs(["a.mp4", "b.mp4"], tmp_path / "dir.mp4")[1] == (Path("b.mp4"), tmp_path / "dir.mp4" / "b.mp4")


def test_avi_from_mp4_is_stamped_at_the_frame_rate(tmp_path: Path, model_path: Path) -> None:
    # An mp4's 1/12800 time base used to go into the AVI: players read a 25 fps clip as 600 fps.
    src = make_video(tmp_path / "talk.mp4", frames=10, fps=Fraction(25), time_base=Fraction(1, 12800),
                     pts=[i * 512 for i in range(10)], audio=False)
    assert main(["video", str(src), "-o", str(tmp_path / "talk.avi"), "--model", str(model_path), "-q"]) == 0
    with av.open(str(tmp_path / "talk.avi")) as c:
        vs = c.streams.video[0]
        assert vs.time_base == Fraction(1, 25) and vs.average_rate == 25 and vs.frames == 10
        assert abs(c.duration / 1e6 - 0.4) < 0.05


def test_what_the_output_cannot_carry_gets_a_note(tmp_path: Path, model_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "multi.mp4"
    with av.open(str(src), "w") as out:
        main_vs = out.add_stream("libx264", rate=12)
        main_vs.width, main_vs.height, main_vs.pix_fmt = 64, 48, "yuv420p10le"
        second = out.add_stream("libx264", rate=12)
        second.width, second.height, second.pix_fmt = 32, 32, "yuv420p"
        cover = out.add_stream("png")
        cover.width, cover.height, cover.pix_fmt = 32, 32, "rgb24"
        cover.disposition = av.stream.Disposition.attached_pic
        for i in range(4):
            for s in (main_vs, second):
                f = av.VideoFrame.from_ndarray(np.full((s.height, s.width, 3), 40 * i, np.uint8), format="rgb24")
                f.pts = i
                out.mux(s.encode(f))
        out.mux(cover.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")))
        for s in (main_vs, second, cover):
            out.mux(s.encode(None))
    dst = tmp_path / "o.mp4"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if "note:" in ln]
    assert len(notes) == 3 and all(str(src) in n for n in notes)
    assert "#1" in notes[0] and "second video stream" in notes[0]
    assert "#2" in notes[1] and "cover art" in notes[1]
    assert "10-bit" in notes[2]
    with av.open(str(dst)) as c:
        assert [s.type for s in c.streams] == ["video"] and c.streams.video[0].frames == 4


def test_output_equal_to_the_model_or_background_is_refused(tmp_path: Path, model_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / "a.mp4", frames=2, audio=False)
    model = tmp_path / "m.mp4"  # whatever its name, a file given as the model is an input
    model.write_bytes(model_path.read_bytes())
    assert main(["video", str(src), "-o", str(model), "--model", str(model)]) == 2
    assert "is the input" in capsys.readouterr().err and model.read_bytes() == model_path.read_bytes()


class Line:
    """A progress line that records what it was told."""

    def __init__(self, total: int | None, log: list[str]) -> None:
        self.log = log
        log.append(f"new {total}")

    def update(self, n: int = 1) -> None:
        self.log.append("update")

    def clear(self) -> None:
        self.log.append("clear")

    def close(self) -> None:
        self.log.append("close")


def test_process_videos_yields_each_outcome_and_goes_on(tmp_path: Path, model_path: Path) -> None:
    good = make_video(tmp_path / "good.mp4", frames=3, audio=False)
    bad = tmp_path / "bad.mp4"
    bad.write_text("not a video")
    log: list[str] = []
    results = list(process_videos([good, bad, tmp_path / "sub" / "good.mp4"], tmp_path / "out",
                                  Pipeline(model_path), progress=lambda total: Line(total, log)))
    assert [r.src for r in results] == [good, bad, tmp_path / "sub" / "good.mp4"]
    assert results[0].stats is not None and results[0].stats.frames == 3 and not results[0].error
    assert results[1].stats is None and str(bad) in results[1].error and "\n" not in results[1].error
    assert "another input already writes" in results[2].error  # same output name: refused, not overwritten
    assert log == ["new 3", "update", "update", "update", "close"]  # no line for an input refused before probing
    cut = make_video(tmp_path / "cut.mkv", frames=30)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    log.clear()
    (result,) = process_videos([cut], tmp_path / "out", Pipeline(model_path), progress=lambda total: Line(total, log))
    assert str(cut) in result.error and result.stats is None
    assert log[0] == "new 30" and log[-2:] == ["clear", "close"]  # cleared for the error line, closed after it
    with pytest.raises(VideoError, match="no video encoder"):
        process_videos([good], tmp_path / "o.mp4", Pipeline(model_path), codec="no-such-codec")
