"""Exporting the person: transparent-background video (ProRes 4444, VP9 alpha, FFV1), lossless mattes, PNG frames,
and files fed through the pipeline's two-way smoothing (push/drain) in order."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_naming

av = pytest.importorskip("av")

from video_clips import make_video, packets, video_frames  # noqa: E402

from segblur.media.images import read_image  # noqa: E402
from segblur.media.video import VideoError, process_video  # noqa: E402
from segblur.media.video.codecs import kind_format  # noqa: E402
from segblur.runtime.pipeline import Pipeline  # noqa: E402
from segblur.runtime.temporal import TemporalConfig  # noqa: E402


def decode(path: Path, fmt: str) -> list[np.ndarray]:
    """Every frame of ``path`` as ``fmt`` (VP9's alpha is read by libvpx, FFmpeg's own decoder drops it)."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        if vs.codec_context.name == "vp9":
            cc = av.CodecContext.create("libvpx-vp9", "r")
            return [f.to_ndarray(format=fmt) for p in c.demux(vs) if p.size for f in cc.decode(p)] + \
                [f.to_ndarray(format=fmt) for f in cc.decode(None)]
        return [f.to_ndarray(format=fmt) for f in c.decode(vs)]


def matte_pipeline(model_path: Path, view: str, lookahead: int = 2) -> Pipeline:
    pipe = Pipeline(model_path, temporal=TemporalConfig(lookahead=lookahead))
    pipe.view = view
    return pipe


def expected_mattes(model_path: Path, src: Path, view: str = "alpha") -> list[np.ndarray]:
    """What the pipeline itself gives for each frame of ``src`` (pushed and drained, as process_video does)."""
    pipe = matte_pipeline(model_path, view)
    _, frames, _ = video_frames(src)
    out = [m for m in (pipe.push(f) for f in frames) if m is not None]
    return out + list(pipe.drain())


@pytest.mark.parametrize("suffix", [".mov", ".webm", ".mkv"])
def test_transparent_background_keeps_frames_alpha_audio_and_timing(tmp_path: Path, model_path: Path,
                                                                    suffix: str) -> None:
    src = make_video(tmp_path / "in.mp4", frames=8)
    dst = tmp_path / f"out{suffix}"
    stats = process_video(src, dst, matte_pipeline(model_path, "rgba"), kind="rgba")
    assert stats.frames == 8 and stats.copied_streams == 1
    t_in, rgb_in, _ = video_frames(src)
    t_out, _, meta = video_frames(dst)
    assert meta["codec"] == {".mov": "prores", ".webm": "vp9", ".mkv": "ffv1"}[suffix]
    # From MP4 into Matroska and WebM the muxer shifts everything by the AAC priming or Opus pre-skip (21 ms), as it
    # does for RGB video: the spacing must match.
    np.testing.assert_allclose(np.diff(t_out), np.diff(t_in), atol=1e-3)
    assert abs(t_out[0] - t_in[0]) < (1e-3 if suffix == ".mov" else 0.03)
    rgba = decode(dst, "rgba")
    mattes = expected_mattes(model_path, src)
    assert len(rgba) == 8
    for got, want, rgb in zip(rgba, mattes, rgb_in):
        tol = 40 if suffix == ".webm" else 2  # VP9 is lossy; ProRes 4444 and FFV1 keep the alpha (to 10-bit rounding)
        assert np.abs(got[..., 3].astype(int) - want).mean() < (4 if suffix == ".webm" else 0.5)
        assert np.percentile(np.abs(got[..., 3].astype(int) - want), 99) <= tol
        assert np.abs(got[..., :3].astype(int) - rgb).mean() < 6  # the frame itself, not an effect
    with av.open(str(dst)) as c:
        assert c.streams.audio  # audio kept (Opus in WebM)
    if suffix != ".webm":
        assert len(packets(dst, "audio")) == len(packets(src, "audio"))


@pytest.mark.parametrize("suffix", [".mkv", ".mov"])
def test_matte_video_is_lossless_grey_with_the_inputs_timing(tmp_path: Path, model_path: Path, suffix: str) -> None:
    src = make_video(tmp_path / "in.mp4", frames=9, fps=Fraction(30000, 1001))
    dst = tmp_path / f"matte{suffix}"
    stats = process_video(src, dst, matte_pipeline(model_path, "alpha"), kind="matte")
    assert stats.frames == 9 and stats.copied_streams == 0
    t_in, _, _ = video_frames(src)
    t_out, _, meta = video_frames(dst)
    assert t_out == pytest.approx(t_in, abs=1e-3) and meta["size"] == (64, 48)
    got = decode(dst, "gray")
    for g, want in zip(got, expected_mattes(model_path, src), strict=True):
        np.testing.assert_array_equal(g, want)  # lossless
    with av.open(str(dst)) as c:
        assert not c.streams.audio


def test_matte_frames_are_numbered_pngs_of_the_videos_size(tmp_path: Path, model_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", frames=6)
    out = tmp_path / "frames"
    stats = process_video(src, out, matte_pipeline(model_path, "binary"), kind="matte")
    assert stats.frames == 6 and stats.padded is None
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{i:06d}.png" for i in range(1, 7)]
    for name, want in zip(names, expected_mattes(model_path, src, "binary")):
        m = read_image(out / name)[..., 0]
        np.testing.assert_array_equal(m, want)
        assert set(np.unique(m)) <= {0, 255}


def test_containers_without_alpha_or_lossless_grey_are_refused(tmp_path: Path) -> None:
    assert kind_format("a.mp4", "rgb") == (None, "yuv420p")
    for name, kind in (("a.mp4", "rgba"), ("a.avi", "matte"), ("a.webm", "matte")):
        with pytest.raises(VideoError) as e:
            kind_format(tmp_path / name, kind)
        assert_one_line_naming(str(e.value), tmp_path / name)
    with pytest.raises(ValueError):
        kind_format("a.mov", "cmyk")


def test_a_file_is_pushed_through_the_two_way_smoothing_in_order(tmp_path: Path, model_path: Path) -> None:
    src = make_video(tmp_path / "in.mkv", frames=10)
    pipe = Pipeline(model_path, effect="color", color="#0000ff", temporal=TemporalConfig(lookahead=4))
    pushed = []
    real_push = pipe.push
    pipe.push = lambda rgb: (pushed.append(1), real_push(rgb))[1]
    stats = process_video(src, tmp_path / "out.mkv", pipe)
    assert stats.frames == 10 and len(pushed) == 10
    t_in, _, _ = video_frames(src)
    t_out, frames, _ = video_frames(tmp_path / "out.mkv")
    assert t_out == pytest.approx(t_in, abs=1e-3)
    assert packets(tmp_path / "out.mkv", "audio") == packets(src, "audio")
    # Each output frame shows its own frame's square (red kept), not one from frames before or after.
    _, originals, _ = video_frames(src)
    for f, o in zip(frames, originals):
        red = (o[..., 0] > 200) & (o[..., 1] < 60)
        assert np.abs(f[red].astype(int) - o[red]).mean() < 40


def test_cli_alpha_writes_a_transparent_video_and_refuses_what_cannot_hold_it(tmp_path: Path, model_path: Path,
                                                                             capsys: pytest.CaptureFixture) -> None:
    from segblur.cli.main import main

    src = make_video(tmp_path / "in.mp4", frames=5)
    assert main(["video", str(src), "-o", str(tmp_path / "out.mov"), "--alpha", "--model", str(model_path)]) == 0
    assert "out.mov: 5 frames" in capsys.readouterr().err
    assert len(decode(tmp_path / "out.mov", "rgba")) == 5
    for argv in (["-o", str(tmp_path / "out.mp4"), "--alpha"], ["-o", str(tmp_path / "o.mov"), "--alpha", "--effect",
                                                                  "pixelate"]):
        assert main(["video", str(src), *argv, "--model", str(model_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("segblur: error:") and "\n" not in err
