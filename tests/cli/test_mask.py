"""``segblur mask``: hard and soft PNG masks, one per input, in an output folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import GREEN, RED, files_in, one_error_line, run_cli, save_image, split_image

from segblur.cli.main import main
from segblur.media.images import write_image
from segblur.media.video.errors import VideoError


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    img = split_image(40, 60, left=RED)
    write_image(tmp_path / "a.png", img)
    return tmp_path / "a.png"


def test_mask_writes_binary_png_per_input(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = save_image(tmp_path / "in" / "a.jpg", split_image(30, 44))
    b = save_image(tmp_path / "in" / "b.png", split_image(21, 17, left=GREEN, right=RED))
    out = tmp_path / "masks"
    code, _, err = run_cli(capsys, "mask", a, b, "-o", out, "--model", model_path, "-q")
    assert code == 0, err
    assert files_in(out) == ["a.png", "b.png"]
    ma = cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED)
    assert ma.shape == (30, 44) and ma.dtype == np.uint8
    assert set(np.unique(ma)) <= {0, 255}
    assert np.all(ma[:, :18] == 255) and np.all(ma[:, 26:] == 0)
    mb = cv2.imread(str(out / "b.png"), cv2.IMREAD_UNCHANGED)
    assert mb.shape == (21, 17) and np.all(mb[:, -4:] == 255) and np.all(mb[:, :4] == 0)


def test_mask_single_file_goes_into_the_folder(tmp_path: Path, model_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    a = save_image(tmp_path / "photo.jpg", split_image(20, 20))
    code, _, _ = run_cli(capsys, "mask", a, "-o", tmp_path / "m", "--model", model_path, "-q")
    assert code == 0
    assert files_in(tmp_path / "m") == ["photo.png"]


def test_mask_soft_writes_intermediate_values(tmp_path: Path, model_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # A smooth red -> green gradient: the probability ramps, so a soft mask has grey levels.
    t = np.linspace(0, 1, 64)[None, :]
    img = np.zeros((32, 64, 3), np.uint8)
    img[..., 0] = np.round(255 * (1 - t))
    img[..., 1] = np.round(255 * t)
    src = save_image(tmp_path / "grad.png", img)
    code, _, _ = run_cli(capsys, "mask", src, "-o", tmp_path / "hard", "--model", model_path, "-q")
    assert code == 0
    hard = cv2.imread(str(tmp_path / "hard" / "grad.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(hard)) <= {0, 255}
    code, _, _ = run_cli(capsys, "mask", src, "-o", tmp_path / "soft", "--model", model_path, "--soft", "-q")
    assert code == 0
    soft = cv2.imread(str(tmp_path / "soft" / "grad.png"), cv2.IMREAD_UNCHANGED)
    assert soft.shape == (32, 64)
    assert len(set(np.unique(soft)) - {0, 255}) >= 5
    assert soft[:, 0].min() > 200 and soft[:, -1].max() < 55


def test_mask_one_input_and_a_png_output_writes_that_file(tmp_path: Path, model_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    # `segblur mask x.jpg -o mask.png` used to create a folder called mask.png
    src = save_image(tmp_path / "x.jpg", split_image(16, 16))
    code, _, err = run_cli(capsys, "mask", src, "-o", tmp_path / "mask.png", "--model", model_path, "-q")
    assert code == 0, err
    assert (tmp_path / "mask.png").is_file()
    assert cv2.imread(str(tmp_path / "mask.png"), cv2.IMREAD_UNCHANGED).shape == (16, 16)


def test_mask_several_inputs_need_a_folder(tmp_path: Path, model_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    a, b = save_image(tmp_path / "a.png", split_image(16, 16)), save_image(tmp_path / "b.png", split_image(16, 16))
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"x")
    for out in (taken, tmp_path / "new.png"):
        code, _, err = run_cli(capsys, "mask", a, b, "-o", out, "--model", model_path)
        assert code == 2
        assert str(out) in one_error_line(err) and "several inputs" in err
    assert taken.read_bytes() == b"x" and not (tmp_path / "new.png").exists()


def test_mask_reports_bad_inputs(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = save_image(tmp_path / "a.png", split_image(16, 16))
    bad = tmp_path / "b.png"
    bad.write_text("nope")
    code, _, err = run_cli(capsys, "mask", good, bad, "-o", tmp_path / "m", "--model", model_path, "-q")
    assert code == 1
    assert str(bad) in one_error_line(err)
    assert files_in(tmp_path / "m") == ["a.png"]


def test_cli_mask_soft_refuses_threshold(photo: Path, tmp_path: Path, model_path: Path) -> None:
    assert main(["mask", str(photo), "-o", str(tmp_path / "m"), "--soft", "--threshold", "0.2",
                 "--model", str(model_path)]) == 2


def clip(path: Path, frames: int = 6) -> Path:
    """A small video of a red (person) square moving right on green."""
    pytest.importorskip("av")
    from segblur.media.video import VideoWriter

    with VideoWriter(path, 64, 48, 10) as w:
        for i in range(frames):
            img = split_image(48, 64, left=GREEN, right=GREEN)
            img[14:30, 4 + 3 * i:20 + 3 * i] = RED
            w.write(img)
    return path


def test_mask_of_a_video_is_one_png_per_frame_or_a_matte_video(tmp_path: Path, model_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    src = clip(tmp_path / "in.mp4")
    code, _, err = run_cli(capsys, "mask", src, "-o", tmp_path / "frames", "--model", model_path, "-q")
    assert code == 0, err
    assert files_in(tmp_path / "frames") == [f"{i:06d}.png" for i in range(1, 7)]
    first = cv2.imread(str(tmp_path / "frames" / "000001.png"), cv2.IMREAD_UNCHANGED)
    assert first.shape == (48, 64) and set(np.unique(first)) <= {0, 255} and first[20, 10] == 255
    code, _, err = run_cli(capsys, "mask", src, "-o", tmp_path / "matte.mkv", "--soft", "--lookahead", "2",
                           "--model", model_path)
    assert code == 0, err
    assert "matte.mkv: 6 frames" in err
    import av

    with av.open(str(tmp_path / "matte.mkv")) as c:
        frames = [f.to_ndarray(format="gray") for f in c.decode(video=0)]
        assert c.streams.video[0].codec_context.name == "ffv1" and not c.streams.audio
    assert len(frames) == 6 and len(np.unique(frames[0])) > 2  # soft: probabilities, not 0/255
    two = tmp_path / "two"
    code, _, err = run_cli(capsys, "mask", src, clip(tmp_path / "b.mkv", 3), "-o", two, "--model", model_path, "-q")
    assert code == 0, err
    assert files_in(two) == [f"b/{i:06d}.png" for i in range(1, 4)] + [f"in/{i:06d}.png" for i in range(1, 7)]


def test_a_frame_folder_holds_one_run_whole_or_the_one_before(tmp_path: Path, model_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Frames go to a temp folder and are moved in at the end: a shorter clip rerun into the folder leaves no stale
    frames of the longer one, and a run that is stopped or finds its input truncated leaves the folder as it was."""
    from segblur.media.video.reader import VideoReader
    from segblur.media.video.sequence import FrameFolder

    frames = tmp_path / "frames"
    code, _, err = run_cli(capsys, "mask", clip(tmp_path / "long.mp4", 6), "-o", frames, "--model", model_path, "-q")
    assert code == 0, err
    (frames / "notes.txt").write_text("mine")  # not a frame: never touched
    (frames / "000050.png").write_bytes(b"mine too")  # after a gap: not the earlier run's, never touched
    code, _, err = run_cli(capsys, "mask", clip(tmp_path / "short.mp4", 3), "-o", frames, "--model", model_path, "-q")
    assert code == 0, err
    assert files_in(frames) == ["000001.png", "000002.png", "000003.png", "000050.png", "notes.txt"]
    before = {f: (frames / f).read_bytes() for f in files_in(frames)}
    real_write = FrameFolder.write

    def stopped(self: FrameFolder, frame: np.ndarray, pts: int | None = None) -> None:
        if self.frames == 4:
            raise KeyboardInterrupt
        real_write(self, frame, pts)

    monkeypatch.setattr(FrameFolder, "write", stopped)
    code, _, err = run_cli(capsys, "mask", tmp_path / "long.mp4", "-o", frames, "--model", model_path, "-q")
    assert code == 130 and "interrupted" in err
    monkeypatch.setattr(FrameFolder, "write", real_write)

    def truncated(self: VideoReader, end: float) -> None:
        raise VideoError(f"{self.path}: truncated (data ends at 0.20 s of 0.60 s)")

    monkeypatch.setattr(VideoReader, "check_complete", truncated)
    code, _, err = run_cli(capsys, "mask", tmp_path / "long.mp4", "-o", frames, "--model", model_path, "-q")
    assert code == 1
    assert one_error_line(err) == f"segblur: {tmp_path / 'long.mp4'}: truncated (data ends at 0.20 s of 0.60 s)"
    assert {f: (frames / f).read_bytes() for f in files_in(frames)} == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".segblur-")]


def test_mask_of_a_video_named_like_an_image_is_refused(tmp_path: Path, model_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    src = clip(tmp_path / "in.mp4", 2)
    code, _, err = run_cli(capsys, "mask", src, "-o", tmp_path / "matte.png", "--model", model_path)
    line = one_error_line(err)
    assert code == 2 and f"{tmp_path / 'matte.png'}: names an image" in line and ".mkv" in line, line
    assert not (tmp_path / "matte.png").exists()


def test_mask_refuses_images_with_videos_and_mattes_in_lossy_containers(tmp_path: Path, model_path: Path, photo: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    src = clip(tmp_path / "in.mp4", 2)
    for argv in ([src, photo, "-o", tmp_path / "o"], [src, "-o", tmp_path / "m.mp4"]):
        code, _, err = run_cli(capsys, "mask", *argv, "--model", model_path)
        assert code == 2 and one_error_line(err).startswith("segblur: error:"), argv


def test_mask_output_that_is_an_input_is_refused_up_front(tmp_path: Path, model_path: Path, photo: Path,
                                                         capsys: pytest.CaptureFixture[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A photo or a video given as its own output, however spelled, is a bad output (exit 2, one line)."""
    monkeypatch.chdir(tmp_path)
    video = clip(tmp_path / "in.mkv", 2)
    for src, out in [(photo, photo), (photo, "./a.png"), (video, "./in.mkv")]:
        before = Path(src).read_bytes()
        code, _, err = run_cli(capsys, "mask", src, "-o", out, "--model", model_path)
        line = one_error_line(err)
        assert code == 2 and line.startswith(f"segblur: error: {out}: is the input"), line
        assert Path(src).read_bytes() == before


def test_masks_may_go_beside_the_photos_of_a_folder(tmp_path: Path, model_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """`mask photos/ -o photos/` writes <name>.png beside each .jpg and replaces nothing (refused for a while)."""
    photos = tmp_path / "photos"
    photos.mkdir()
    src = save_image(photos / "a.jpg", split_image(20, 24))
    before = src.read_bytes()
    code = main(["mask", str(photos), "-o", str(photos), "--model", str(model_path), "-q"])
    assert code == 0, capsys.readouterr().err
    assert sorted(p.name for p in photos.iterdir()) == ["a.jpg", "a.png"] and src.read_bytes() == before
