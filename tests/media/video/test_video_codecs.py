"""media.video.codecs: encoder settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from segblur.media.video.codecs import check_codec, codec_options


def test_default_x264_settings() -> None:
    """segblur's own speed setting applies only when the user names no preset."""
    assert codec_options("libx264", None) == ({"crf": "23", "preset": "veryfast", "x264-params": "subme=1"}, None)
    assert codec_options("libx264", 18, "slow") == ({"crf": "18", "preset": "slow"}, None)
    assert codec_options("libx265", None)[0] == {"crf": "28", "preset": "veryfast"}


@pytest.mark.parametrize(("option", "message"), [(["--crf", "-5"], "--crf -5 is out of range for libx264"),
                                                 (["--crf", "-1"], "--crf -1 is out of range for libx264 (0..51"),
                                                 (["--crf", "99"], "--crf 99 is out of range for libx264"),
                                                 (["--crf", "1e9"], "--crf 1e+09 is out of range"),
                                                 (["--codec", "libvpx-vp9", "--crf", "64"], "(0..63"),
                                                 (["--codec", "mpeg4", "--crf", "52"], "out of range for mpeg4"),
                                                 (["--codec", "ffv1", "--crf", "20"], "--crf does not apply to ffv1"),
                                                 (["--preset", "bogus"], "unknown preset 'bogus' for libx264"),
                                                 (["--codec", "mjpeg"], "mjpeg cannot encode"),
                                                 (["--codec", "libvpx-vp9", "--preset", "slow"], "--preset is for"),
                                                 (["--codec", "mjpeg2000x"], "no video encoder")])
def test_bad_encoder_settings_are_one_line_before_any_frame(tmp_path: Path, model_path: Path, option: list[str],
                                                            message: str, capfd: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("av")
    from segblur.cli.main import main

    monkeypatch.setattr("segblur.media.video.batch.probe_video", lambda *a: pytest.fail("an input was read"))
    src = tmp_path / "in.mp4"
    src.write_bytes(b"not read")
    code = main(["video", str(src), "-o", str(tmp_path / "o" / "c.mp4"), "--model", str(model_path), *option])
    err = capfd.readouterr().err  # the file descriptor: x264 prints "x264 [error]: invalid preset" there itself
    assert code == 2
    assert err.strip().splitlines() == [f"segblur: error: {err.strip().split('error: ', 1)[1]}"] and message in err
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_settings_that_work_pass_the_check() -> None:
    pytest.importorskip("av")
    for args in (("libx264", None, None), ("libx264", 18, "slow"), ("mpeg4", 30, None), ("libvpx-vp9", 40, None),
                 ("libx264", 0, None), ("libx264", 51, None), ("libvpx-vp9", 63, None)):
        check_codec(*args)
