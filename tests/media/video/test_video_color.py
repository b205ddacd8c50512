"""media.video.color: the RGB -> YUV conversion and colour tags, and colours through a whole run."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

av = pytest.importorskip("av")

from video_clips import IdentityPipeline, yuv_frames  # noqa: E402

from segblur.media.video import UNTAGGED, ColorInfo, VideoWriter, process_video  # noqa: E402
from segblur.media.video.color import SWS_CS  # noqa: E402


@pytest.mark.parametrize("color", [UNTAGGED, ColorInfo(), ColorInfo(1, 1, 1, 2), ColorInfo(9, 9, 14, 1)],
                         ids=["untagged", "bt709", "bt709-full", "bt2020"])
def test_yuv_fast_path_matches_ffmpeg_conversion(tmp_path: Path, color: ColorInfo) -> None:
    """VideoWriter's own RGB -> yuv420p conversion (OpenCV) gives the colours FFmpeg's gives for the same matrix."""
    rng = np.random.default_rng(1)
    frames = [cv2.resize(rng.integers(30, 220, (6, 8, 3), dtype=np.uint8), (64, 48)) for _ in range(3)]
    with VideoWriter(tmp_path / "fast.mkv", 64, 48, 10, crf=0, options={"preset": "ultrafast"}, color=color) as w:
        for f in frames:
            w.write(f)
    with av.open(str(tmp_path / "ffmpeg.mkv"), "w") as c:  # rgb24 frames converted by FFmpeg (swscale)
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        s.codec_context.options = {"crf": "0", "preset": "ultrafast"}
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            if color != UNTAGGED:
                vf = vf.reformat(format="yuv420p", dst_colorspace=SWS_CS[color.colorspace],
                                 dst_color_range=color.range)
            vf.pts = i
            c.mux(s.encode(vf))
        c.mux(s.encode(None))
    fast, ref = yuv_frames(tmp_path / "fast.mkv"), yuv_frames(tmp_path / "ffmpeg.mkv")
    assert len(fast) == len(ref) == 3
    for a, b, rgb in zip(fast, ref, frames):
        assert np.abs(a[:48].astype(int) - b[:48]).max() <= 1  # luma: the same matrix and range (lossless CRF 0)
        err = [np.abs(i420_to_rgb(x, color) - rgb).mean() for x in (a, b)]
        # chroma: a 2x2 box filter instead of swscale's, about as faithful (4.98 vs 4.17 on these sharp colour
        # edges); swapped or misplaced U/V planes would be tens of levels off.
        assert err[0] <= err[1] + 1.5
    with av.open(str(tmp_path / "fast.mkv")) as c:
        cc = c.streams.video[0].codec_context
        assert (cc.colorspace, cc.color_primaries, cc.color_trc) == (color.colorspace, color.primaries, color.trc)


def i420_to_rgb(i420: np.ndarray, color: ColorInfo) -> np.ndarray:
    """Planar 4:2:0 back to RGB (float) with the inverse of ``color``'s matrix, chroma repeated 2 x 2."""
    h, w = i420.shape[0] * 2 // 3, i420.shape[1]
    flat, n = i420.reshape(-1).astype(np.float64), h * w // 4
    planes = [flat[:h * w].reshape(h, w)] + [np.repeat(np.repeat(flat[h * w + k * n:h * w + (k + 1) * n]
                                                                 .reshape(h // 2, w // 2), 2, 0), 2, 1) for k in (0, 1)]
    m = color.matrix().astype(np.float64)
    return (np.stack(planes, -1) - m[:, 3]) @ np.linalg.inv(m[:, :3]).T


def flat_clip(path: Path, rgb: tuple[int, int, int], color: ColorInfo | None, size: tuple[int, int] = (64, 48)) -> Path:
    """Three frames of one flat colour, converted to yuv420p with ``color``'s matrix and range, and tagged so."""
    w, h = size
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        cc = s.codec_context
        cc.options = {"crf": "0", "preset": "ultrafast"}
        if color is not None:
            cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range = \
                color.colorspace, color.primaries, color.trc, color.range
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.full((h, w, 3), rgb, np.uint8), format="rgb24")
            if color is not None:
                f = f.reformat(format="yuv420p", dst_colorspace=SWS_CS[color.colorspace],
                               dst_color_range=color.range)
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def first_frame(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """The first frame as decoded RGB, its raw Y, U, V levels, and the stream's colour tags."""
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        f = next(c.decode(video=0))
        yuv = f.reformat(format="yuv420p").to_ndarray()
        h, w = f.height, f.width
        levels = np.array([yuv[h // 2, w // 2], yuv[h + 2, w // 4], yuv[h + h // 4 + 2, w // 4]], int)
        return f.to_ndarray(format="rgb24")[h // 2, w // 2].astype(int), levels, \
            (cc.colorspace, cc.color_primaries, cc.color_trc, cc.color_range)


@pytest.mark.parametrize("color", [ColorInfo(), ColorInfo(1, 1, 1, 2), None], ids=["bt709", "bt709-full", "untagged"])
@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_untouched_colour_survives_the_round_trip(tmp_path: Path, color: ColorInfo | None, suffix: str) -> None:
    """A flat colour the pipeline leaves alone keeps its YUV levels and colour tags (BT.709 HD input too)."""
    src = flat_clip(tmp_path / "in.mkv", (200, 60, 40), color)
    dst = tmp_path / f"out{suffix}"
    process_video(src, dst, IdentityPipeline(), crf=0 if suffix == ".mp4" else 4)
    rgb_in, yuv_in, tags_in = first_frame(src)
    rgb_out, yuv_out, tags_out = first_frame(dst)
    assert np.abs(yuv_out - yuv_in).max() <= 2, (yuv_in, yuv_out)  # BT.601 instead of BT.709: 10 levels of Y
    assert np.abs(rgb_out - rgb_in).max() <= 3, (rgb_in, rgb_out)
    assert tags_out[:3] == tags_in[:3] and (tags_out[3] == tags_in[3] or color is None)  # VP9 always marks a range
