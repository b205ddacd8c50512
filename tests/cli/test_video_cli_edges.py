"""``segblur video`` at its edges: outputs that name an input, repeated inputs, --alpha with a codec that has no
alpha, odd frame sizes, a system out of threads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import GREEN, RED, one_error_line, run_cli, split_image

av = pytest.importorskip("av")


def make_video(path: Path, frames: int = 2, size: tuple[int, int] = (64, 48), codec: str | None = None) -> Path:
    """A small clip (no audio): a red (person) square on green."""
    from segblur.media.video import VideoWriter

    w, h = size
    with VideoWriter(path, w, h, 10, codec=codec, pix_fmt="yuv444p" if codec == "ffv1" else "yuv420p") as out:
        for i in range(frames):
            img = split_image(h, w, left=GREEN, right=GREEN)
            img[h // 4:h // 2, 2 + i:w // 3 + i] = RED
            out.write(img)
    return path


@pytest.mark.parametrize("name", ["out.xyz", "out"])
def test_a_video_output_with_no_video_suffix_is_refused_up_front(tmp_path: Path, model_path: Path, name: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """-o out.xyz is a bad output (exit 2, one line, nothing read or written), not a failed input (exit 1)."""
    src = make_video(tmp_path / "v.mp4")
    code, _, err = run_cli(capsys, "video", src, "-o", tmp_path / name, "--model", model_path)
    line = one_error_line(err)
    words = "cannot write '.xyz' video" if name == "out.xyz" else "has no video suffix"
    assert code == 2 and f"{name}: {words}" in line and ".mp4" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.mp4"]


@pytest.mark.parametrize("spelling", ["same", "dot", "symlink", "hardlink"])
def test_video_output_that_is_the_input_is_refused_up_front(tmp_path: Path, model_path: Path, spelling: str,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_video(tmp_path / "v.mp4")
    before = src.read_bytes()
    monkeypatch.chdir(tmp_path)
    out: str | Path = {"same": src, "dot": "./v.mp4"}.get(spelling, tmp_path / "other.mp4")
    if spelling == "symlink":
        Path(out).symlink_to(src)
    elif spelling == "hardlink":
        os.link(src, out)
    code, _, err = run_cli(capsys, "video", src, "-o", out, "--model", model_path)
    line = one_error_line(err)
    assert code == 2 and line.startswith(f"segblur: error: {out}: is the input") and "Traceback" not in err, line
    assert src.read_bytes() == before


def test_video_output_under_a_file_is_refused_up_front(tmp_path: Path, model_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """-o under the input file (v.mp4/out.mp4), or under another file, is a bad output: exit 2, one line, before the
    input is read; not "File exists" as a failed input (exit 1)."""
    src = make_video(tmp_path / "v.mp4")
    (tmp_path / "taken").write_bytes(b"x")
    for command, out, words in [("video", src / "out.mp4", f"lies under the input file {src}"),
                                ("mask", src / "frames", f"lies under the input file {src}"),
                                ("video", tmp_path / "taken" / "x.mp4", "taken is a file, not a folder"),
                                ("mask", tmp_path / "taken" / "frames", "taken is a file, not a folder"),
                                ("mask", tmp_path / "taken", "taken: is a file, not a folder")]:
        code, _, err = run_cli(capsys, command, src, "-o", out, "--model", model_path)
        line = one_error_line(err)
        assert code == 2 and line.startswith(f"segblur: error: {out}") and words in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken", "v.mp4"]


def test_the_same_video_named_twice_is_processed_once(tmp_path: Path, model_path: Path,
                                                      capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """As segblur image does: a.mp4 ./a.mp4 (or a link to it) is one input, not a second one that fails."""
    src = make_video(tmp_path / "v.mp4")
    (tmp_path / "link.mp4").symlink_to(src)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "out").mkdir()
    for command, out in [("video", tmp_path / "out"), ("mask", tmp_path / "mattes")]:
        code, _, err = run_cli(capsys, command, src, "./v.mp4", "link.mp4", "-o", out, "--model", model_path, "-q")
        assert code == 0 and err == "", err
        # one input: the folder named gets the video, or the frames themselves, as for one input
        assert sorted(p.name for p in out.iterdir()) == (["v.mp4"] if command == "video" else ["000001.png",
                                                                                            "000002.png"])
    # and one input may be written to a file: "several inputs need an output folder" counted the repeats
    code, _, err = run_cli(capsys, "video", src, "./v.mp4", "-o", tmp_path / "one.mp4", "--model", model_path, "-q")
    assert code == 0 and (tmp_path / "one.mp4").is_file(), err


@pytest.mark.parametrize("suffix, codec", [(".mov", "libx264"), (".webm", "prores_ks"), (".mkv", "mpeg4")])
def test_alpha_with_a_codec_without_it_points_to_those_with_alpha(tmp_path: Path, model_path: Path, suffix: str,
                                                                  codec: str, capsys: pytest.CaptureFixture[str]
                                                                  ) -> None:
    """--alpha --codec libx264 is refused pointing to the encoders that carry alpha, never back to libx264."""
    src = make_video(tmp_path / "v.mp4")
    code, _, err = run_cli(capsys, "video", src, "-o", tmp_path / f"out{suffix}", "--alpha", "--codec", codec,
                           "--model", model_path)
    line = one_error_line(err)
    assert code == 2 and line.startswith(f"segblur: error: {codec} cannot encode"), line
    advice = line.split(";", 1)[1]
    assert "prores_ks" in advice and ".mov" in advice and "libvpx-vp9" in advice and ".webm" in advice, line
    assert "libx264" not in advice and "mpeg4" not in advice, line
    assert not (tmp_path / f"out{suffix}").exists()


def test_an_odd_size_is_kept_where_the_codec_can_and_padded_with_a_note_where_not(
        tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """VP9 (.webm), mpeg4 and FFV1 store 63x47 as it is; libx264 in 4:2:0 (the .mp4 default) cannot, so the frame
    gets its last column and row repeated, said in one note line (also with -q)."""
    src = make_video(tmp_path / "odd.webm", frames=3, size=(63, 47))
    for name, codec, size in [("same.webm", None, (63, 47)), ("ffv1.mkv", "ffv1", (63, 47)),
                              ("mpeg4.avi", "mpeg4", (63, 47)), ("x264.mp4", None, (64, 48))]:
        out = tmp_path / name
        code, _, err = run_cli(capsys, "video", src, "-o", out, "--model", model_path, "-q",
                               *(["--codec", codec] if codec else []))
        assert code == 0, err
        with av.open(str(out)) as c:
            frames = list(c.decode(video=0))
        assert len(frames) == 3 and (frames[0].width, frames[0].height) == size, name
        if size == (63, 47):
            assert err == "", err
        else:
            line = one_error_line(err)
            assert line.startswith(f"segblur: note: {out}: 63x47 is written as 64x48") and "libx264" in line, line


@pytest.mark.parametrize("command", ["video", "mask"])
def test_a_thread_the_system_refuses_is_one_line_not_a_traceback(tmp_path: Path, model_path: Path, command: str,
                                                                 capsys: pytest.CaptureFixture[str],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Out of threads (ulimit -u): one line saying so, no traceback, nothing left at the output."""
    import threading

    src = make_video(tmp_path / "v.mp4")

    def refused(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refused)
    other = make_video(tmp_path / "w.mp4")
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, command, src, other, "-o", out, "--model", model_path)
    assert code == 2 and one_error_line(err) == "segblur: error: the system could not start a thread (too many " \
        "processes or threads for this user: see ulimit -u)"  # once, not once per input
    assert not out.exists() or list(out.iterdir()) == []


@pytest.mark.parametrize("command", ["video", "mask"])
def test_decoder_threads_refused_do_not_make_the_input_corrupt(tmp_path: Path, model_path: Path, command: str,
                                                               capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """FFmpeg says EAGAIN when it cannot start its decoder's threads: the system's limit, not corrupt video data."""
    import errno

    from segblur.media.video import reader

    class Packet:
        pts = time_base = duration = None

        def __init__(self, stream: object) -> None:
            self.stream = stream

        def decode(self) -> list:
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    src = make_video(tmp_path / "v.mp4")
    monkeypatch.setattr(reader, "demux", lambda container, path: iter([Packet(container.streams.video[0])]))
    code, _, err = run_cli(capsys, command, src, "-o", tmp_path / "out.mkv", "--model", model_path, "-q")
    line = one_error_line(err)
    assert code == 2 and "could not start a thread" in line and "corrupt" not in line, line


def test_dash_as_a_video_output_is_refused_not_made_a_folder(tmp_path: Path, model_path: Path,
                                                             capsys: pytest.CaptureFixture[str],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_video(tmp_path / "v.mp4")
    monkeypatch.chdir(tmp_path)
    for command in ("video", "mask"):
        code, _, err = run_cli(capsys, command, src, "-o", "-", "--model", model_path)
        assert code == 2 and "-o -: videos are written to files" in one_error_line(err), err
    assert not (tmp_path / "-").exists()
