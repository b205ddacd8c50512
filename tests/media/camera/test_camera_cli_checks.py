"""``segblur camera``: what it refuses up front (outputs, sources, options), and how a file source that ends early
ends the run."""

from __future__ import annotations

from pathlib import Path

import pytest
from camera_fakes import error_line, run, write_clip


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", 20)


@pytest.mark.parametrize(("record", "says"), [
    ("rd.mp4", "rd.mp4: is a folder"),  # recorded the whole session, then failed at the end (exit 1)
    ("afile/x.mp4", "afile is a file"),  # "cannot write (File exists)"
    ("somedir", "somedir: has no video suffix (use one of .mp4"),  # "cannot write '' video"
    ("out.xyz", "out.xyz: cannot write '.xyz' video (use one of .mp4"),
])
def test_a_record_path_no_video_can_be_written_to_is_refused_up_front(
        tmp_path: Path, clip: Path, model_path: Path, capsys: pytest.CaptureFixture[str], record: str,
        says: str) -> None:
    (tmp_path / "rd.mp4").mkdir()
    (tmp_path / "afile").write_bytes(b"x")
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "-q", "--frames", "2", "--model", model_path,
                    "--record", tmp_path / record)
    assert code == 2 and says in error_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "clip.mp4", "rd.mp4"]  # nothing written
    assert list((tmp_path / "rd.mp4").iterdir()) == []


def test_frames_over_the_pixel_limit_are_refused(clip: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """SEGBLUR_MAX_PIXELS holds for a file or stream played like a camera (and a camera), as for segblur video."""
    from camera_fakes import FakeCapture

    from segblur.media.camera import sources

    monkeypatch.setenv("SEGBLUR_MAX_PIXELS", "500")  # the clip's frames are 32x24 = 768 pixels
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--model", model_path)
    line = error_line(err)
    assert code == 2 and "clip.mp4: frames too large (32x24 is" in line and "SEGBLUR_MAX_PIXELS" in line
    capture = FakeCapture()
    monkeypatch.setattr(sources.cv2, "VideoCapture", lambda dev: capture)
    code, err = run(capsys, "camera", "--source", "1", "--no-preview", "--model", model_path)
    assert code == 2 and "camera 1: frames too large (32x24 is" in error_line(err) and capture.released


def test_a_file_that_ends_early_is_a_lost_source(tmp_path: Path, model_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A truncated file ends the run with one line and exit 1 (as segblur video says it); a whole one with 0."""
    whole = write_clip(tmp_path / "whole.mkv", 200)  # 2 s at 100 fps; Matroska states the duration up front
    data = whole.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[:len(data) // 2])
    code, err = run(capsys, "camera", "--source", whole, "--no-preview", "-q", "--fps", "1000", "--model", model_path)
    assert code == 0 and err == ""
    code, err = run(capsys, "camera", "--source", cut, "--no-preview", "-q", "--fps", "1000", "--model", model_path)
    assert code == 1 and "cut.mkv: truncated (data ends at" in error_line(err) and "of 2.00 s)" in err


@pytest.mark.parametrize("name", ["photo.png", "photo.jpg"])
def test_a_still_image_source_points_to_segblur_image(tmp_path: Path, model_path: Path,
                                                      capsys: pytest.CaptureFixture[str], name: str) -> None:
    """FFmpeg reads a photo as a one-frame video: refused (it played as a '0.0 fps' stream), as segblur video does."""
    from conftest import save_image, split_image

    photo = save_image(tmp_path / name, split_image(24, 32))
    code, err = run(capsys, "camera", "--source", photo, "--no-preview", "--model", model_path)
    assert code == 2 and f"{name}: a still image, not a video; use segblur image" in error_line(err)


def test_an_animated_png_source_plays(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An animated PNG has no frame count in FFmpeg: it was refused as a still image, where it had played."""
    Image = pytest.importorskip("PIL.Image")  # the train extra's Pillow writes animated PNGs
    frames = [Image.new("RGB", (32, 24), (i * 30, 0, 0)) for i in range(4)]
    anim = tmp_path / "anim.png"
    frames[0].save(anim, save_all=True, append_images=frames[1:], duration=100)
    code, err = run(capsys, "camera", "--source", anim, "--no-preview", "--model", model_path, "--record",
                    tmp_path / "a.mp4")
    assert code == 0, err
    assert (tmp_path / "a.mp4").stat().st_size > 0


def test_a_virtual_device_without_virtual_is_refused(clip: Path, model_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """--virtual-device alone was silently ignored: the run went on with no virtual camera."""
    code, err = run(capsys, "camera", "--source", clip, "--no-preview", "--frames", "2", "--model", model_path,
                    "--virtual-device", "/dev/video10")
    assert code == 2 and error_line(err) == "segblur: error: --virtual-device needs --virtual"


def test_help_lists_every_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    from segblur.cli.main import main

    with pytest.raises(SystemExit) as e:
        main(["camera", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert e.value.code == 0
    assert all(s in text for s in ("0 done", "1 the source was lost", "2 the source or an output cannot be opened",
                                   "130 Ctrl-C", "143 SIGTERM", "129 SIGHUP")), text
