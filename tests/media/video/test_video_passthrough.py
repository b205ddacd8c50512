"""media.video.passthrough: audio and subtitles copied, or converted for the container."""

from __future__ import annotations

from pathlib import Path

import pytest

av = pytest.importorskip("av")

from video_clips import SRT, leftovers, make_video, packets, stream_codecs, video_frames  # noqa: E402

from segblur.cli.main import main  # noqa: E402
from segblur.media.video import process_video  # noqa: E402
from segblur.runtime.pipeline import Pipeline  # noqa: E402


@pytest.fixture
def pipe(model_path: Path) -> Pipeline:
    return Pipeline(model_path, effect="color", color="#0000ff", temporal=True)


def test_subtitles_are_copied_in_mkv(tmp_path: Path, model_path: Path) -> None:
    srt = tmp_path / "subs.srt"
    srt.write_text(SRT)
    src = make_video(tmp_path / "in.mkv", subtitles=srt)
    dst = tmp_path / "out.mkv"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 0
    s_in, s_out = packets(src, "subtitles"), packets(dst, "subtitles")
    assert len(s_out) == 2 and s_out == s_in
    assert packets(dst, "audio") == packets(src, "audio")


def test_audio_the_container_cannot_hold_is_reencoded_in_time(tmp_path: Path, model_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """AAC cannot go into WebM: it becomes Opus with the same start and end, with a note; the video still works."""
    src = make_video(tmp_path / "in.mp4")
    dst = tmp_path / "out.webm"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path)]) == 0
    err = capsys.readouterr().err
    (note,) = [ln for ln in err.splitlines() if "re-encoding" in ln]
    assert str(src) in note and "audio stream #1 (aac)" in note and "opus" in note
    assert "1 converted" in err and "cannot encode" not in err
    assert stream_codecs(dst) == {"video": "vp9", "audio": "opus"}
    assert len(video_frames(dst)[1]) == 12 and not leftovers(tmp_path)
    a_in, a_out = packets(src, "audio"), packets(dst, "audio")
    end = [max(t + (d or 0) for _, t, d in a) for a in (a_in, a_out)]
    assert abs(end[1] - end[0]) < 0.03  # 1 s of audio, still ending with the video
    assert abs(a_out[0][1] - a_in[0][1]) < 0.03  # codec delays (AAC priming, Opus pre-skip) are below that


@pytest.mark.parametrize(("suffix", "codec"), [(".mp4", "mov_text"), (".mov", "mov_text"), (".webm", "webvtt")])
def test_text_subtitles_are_converted_for_the_container(tmp_path: Path, pipe: Pipeline, suffix: str,
                                                        codec: str) -> None:
    srt = tmp_path / "subs.srt"
    srt.write_text(SRT)
    src = make_video(tmp_path / "in.mkv", subtitles=srt)
    notes: list[str] = []
    stats = process_video(src, tmp_path / f"out{suffix}", pipe, notify=notes.append)
    assert stream_codecs(tmp_path / f"out{suffix}")["subtitle"] == codec
    cues = [(p, round(t, 3), round(d, 3)) for p, t, d in packets(tmp_path / f"out{suffix}", "subtitles")
            if p.strip(b"\x00")]  # mov_text marks the gaps with empty cues
    assert [(t, d) for _, t, d in cues] == [(0.1, 0.5), (0.7, 0.5)]
    assert b"hello" in cues[0][0] and b"world" in cues[1][0]
    assert any(f"{src}: subtitle stream #2 (srt)" in n and codec in n for n in notes)
    assert stats.copied_streams == 2 and stats.converted_streams == (2 if suffix == ".webm" else 1)


def test_subtitles_avi_cannot_hold_are_left_out_with_a_warning(tmp_path: Path, model_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    srt = tmp_path / "subs.srt"
    srt.write_text(SRT)
    src = make_video(tmp_path / "in.mkv", subtitles=srt)
    dst = tmp_path / "out.avi"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 0
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "warning" in line and str(src) in line and "subtitle stream #2" in line and "left out" in line
    assert stream_codecs(dst) == {"video": "h264", "audio": "aac"}
    assert [p[0] for p in packets(dst, "audio")] == [p[0] for p in packets(src, "audio")]
