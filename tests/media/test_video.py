"""``segblur video`` and segblur.media.video: frames through the pipeline, audio/subtitles copied, atomic output."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_one_line_naming

av = pytest.importorskip("av")

from segblur.cli.main import main  # noqa: E402
from segblur.media import video as video_module  # noqa: E402
from segblur.media.video import (  # noqa: E402
    UNTAGGED,
    ColorInfo,
    VideoError,
    VideoWriter,
    probe_video,
    process_video,
)
from segblur.runtime.pipeline import Pipeline  # noqa: E402

SRT = "1\n00:00:00,100 --> 00:00:00,600\nhello\n\n2\n00:00:00,700 --> 00:00:01,200\nworld\n"


def frame_at(i: int, w: int, h: int) -> np.ndarray:
    """Green background with a red (person) square moving right, and a little texture."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 1] = 200
    img[::4, ::4] = (0, 120, 255)
    s = h // 3
    x = (i * 3) % max(1, w - s)
    img[h // 3:h // 3 + s, x:x + s] = (255, 0, 0)
    return img


def make_video(path: Path, *, frames: int = 12, size: tuple[int, int] = (64, 48), fps: Fraction = Fraction(12),
               audio: bool = True, video: bool = True, subtitles: Path | None = None,
               pts: list[int] | None = None, time_base: Fraction | None = None) -> Path:
    """A small synthetic clip: moving square, a sine-wave audio track, optionally subtitles copied from an .srt.

    ``pts``/``time_base`` give each frame's own timestamp (variable frame rate).
    """
    webm = path.suffix == ".webm"
    w, h = size
    out = av.open(str(path), "w")
    if video:
        vs = out.add_stream("libvpx-vp9" if webm else "libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        vs.codec_context.options = {"deadline": "realtime", "cpu-used": "8"} if webm else {"preset": "ultrafast"}
        tb = time_base or 1 / fps
        vs.codec_context.time_base = tb
        vs.time_base = tb
    if audio:
        rate = 48000
        # AVI's usual audio is MP3 (FFmpeg's AVI muxer gives copied AAC byte-based timestamps).
        aus = out.add_stream("libopus" if webm else "libmp3lame" if path.suffix == ".avi" else "aac", rate=rate)
        aus.layout = "mono"
    sub_in = av.open(str(subtitles)) if subtitles else None
    sub_out = out.add_stream_from_template(sub_in.streams.subtitles[0]) if sub_in else None
    if video:
        for i in range(frames):
            f = av.VideoFrame.from_ndarray(frame_at(i, w, h), format="rgb24")
            f.pts = pts[i] if pts else i
            f.time_base = tb
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    if audio:
        n_total = int(rate * frames / fps)
        t = np.arange(n_total) / rate
        wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        chunk = {"libopus": 960, "libmp3lame": 1152}.get(aus.codec_context.name, 1024)
        fmt = "flt" if webm else "fltp"
        for k in range(0, n_total, chunk):
            a = av.AudioFrame.from_ndarray(wave[None, k:k + chunk].copy(), format=fmt, layout="mono")
            a.sample_rate, a.pts, a.time_base = rate, k, Fraction(1, rate)
            for p in aus.encode(a):
                out.mux(p)
        for p in aus.encode(None):
            out.mux(p)
    if sub_in:
        for p in sub_in.demux(sub_in.streams.subtitles[0]):
            if p.dts is not None:
                p.stream = sub_out
                out.mux(p)
        sub_in.close()
    out.close()
    return path


def packets(path: Path, kind: str) -> list[tuple[bytes, float | None, float | None]]:
    """(payload, pts seconds, duration seconds) of every packet of the first ``kind`` stream."""
    with av.open(str(path)) as c:
        s = getattr(c.streams, kind)[0]
        return [(bytes(p), float(p.pts * p.time_base) if p.pts is not None else None,
                 float(p.duration * p.time_base) if p.duration else None)
                for p in c.demux(s) if p.size]


def video_frames(path: Path) -> tuple[list[float], list[np.ndarray], dict[str, object]]:
    """Each frame's time in seconds and pixels, and the stream's width, height, rate and codec."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        frames = list(c.decode(vs))
        cc = vs.codec_context
        meta = {"size": (cc.width, cc.height), "rate": vs.average_rate, "codec": cc.name}
        return [float(f.pts * f.time_base) for f in frames], [f.to_ndarray(format="rgb24") for f in frames], meta


@pytest.fixture
def pipe(model_path: Path) -> Pipeline:
    return Pipeline(model_path, effect="color", color="#0000ff", temporal=True)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".segblur-"))


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


def test_subtitles_are_copied_in_mkv(tmp_path: Path, model_path: Path) -> None:
    srt = tmp_path / "subs.srt"
    srt.write_text(SRT)
    src = make_video(tmp_path / "in.mkv", subtitles=srt)
    dst = tmp_path / "out.mkv"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 0
    s_in, s_out = packets(src, "subtitles"), packets(dst, "subtitles")
    assert len(s_out) == 2 and s_out == s_in
    assert packets(dst, "audio") == packets(src, "audio")


def test_variable_frame_rate_keeps_every_timestamp(tmp_path: Path, pipe: Pipeline) -> None:
    pts = [0, 40, 120, 130, 300, 310, 320, 600, 700, 705]  # ms: irregular gaps
    src = make_video(tmp_path / "vfr.mkv", frames=len(pts), pts=pts, time_base=Fraction(1, 1000), audio=False)
    stats = process_video(src, tmp_path / "vfr-out.mkv", pipe)
    t_out, _, _ = video_frames(tmp_path / "vfr-out.mkv")
    np.testing.assert_allclose(t_out, [p / 1000 for p in pts], atol=1e-3)
    assert stats.frames == len(pts) and stats.copied_streams == 0


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


def test_probe_video(tmp_path: Path) -> None:
    info = probe_video(make_video(tmp_path / "p.mp4", frames=10))
    assert (info.width, info.height, info.fps, info.frames, info.copied_streams) == (64, 48, 12, 10, 1)
    assert info.duration == pytest.approx(10 / 12, abs=0.05)


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
    pipe.process = lambda rgb: (seen.append(rgb.shape), rgb.copy())[1]
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


def test_output_problems(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / "in.mkv", frames=4)
    before = src.read_bytes()
    assert main(["video", str(src), "-o", str(src), "--model", str(model_path), "-q"]) == 1
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
    assert main(["video", str(src), "-o", str(blocker / "o.mkv"), "--model", str(model_path), "-q"]) == 1
    assert_one_line_naming(capsys.readouterr().err.strip(), blocker / "o.mkv")  # folder cannot be made
    assert main(["video", str(src), "-o", str(tmp_path / "o.xyz"), "--model", str(model_path), "-q"]) == 1
    assert_one_line_naming(capsys.readouterr().err.strip(), tmp_path / "o.xyz")


def _can_write(folder: Path) -> bool:
    """True when running as root (permissions do not stop us, so the unwritable case cannot be made)."""
    try:
        (folder / ".w").touch()
    except OSError:
        return False
    (folder / ".w").unlink()
    return True


def test_keyboard_interrupt_leaves_nothing(tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / "in.mp4", frames=10)
    calls = []

    def process(self: Pipeline, image: np.ndarray) -> np.ndarray:
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return image

    monkeypatch.setattr(Pipeline, "process", process)
    dst = tmp_path / "o.mp4"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 130
    assert not dst.exists() and not leftovers(tmp_path)
    assert "interrupted" in capsys.readouterr().err


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

    monkeypatch.setattr("segblur.media.video.process_video", spy)
    out = tmp_path / "out"
    assert main(["video", str(a), str(bad), str(b), "-o", str(out), "--model", str(model_path), "-q",
                 "--no-temporal"]) == 1
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4", "b.webm"]
    assert seen == [None, None]  # bad.mkv is refused before processing
    assert main(["video", str(a), "-o", str(out / "t.mp4"), "--model", str(model_path), "-q"]) == 0
    assert seen[-1] is not None  # temporal smoothing is on by default for video


def video_threads() -> list[str]:
    """Names of the live decode/encode threads of process_video."""
    return [t.name for t in threading.enumerate() if t.name.startswith("segblur-video")]


def test_threaded_output_equals_the_serial_loop(tmp_path: Path, pipe: Pipeline, monkeypatch) -> None:
    src = make_video(tmp_path / "in.mkv", frames=20)
    sent: dict[str, list] = {}
    write = VideoWriter.write

    def recording_write(self, rgb, pts=None):
        sent.setdefault(self.path.name, []).append((np.array(rgb, copy=True), pts))
        return write(self, rgb, pts)

    monkeypatch.setattr(VideoWriter, "write", recording_write)
    threaded = process_video(src, tmp_path / "thr.mkv", pipe)
    serial = process_video(src, tmp_path / "ser.mkv", pipe, threads=False)
    assert threaded.frames == serial.frames == 20 and not video_threads()
    # Same frames in the same order with the same timestamps reach the encoder. (The encoded bytes are not
    # compared: x264 itself, with these options, now and then encodes identical input differently under load.)
    thr, ser = sent["thr.mkv"], sent["ser.mkv"]
    assert len(thr) == len(ser) == 20
    assert all(np.array_equal(a, b) and pa == pb for (a, pa), (b, pb) in zip(thr, ser))
    assert [p[1:] for p in packets(tmp_path / "thr.mkv", "video")] == \
        [p[1:] for p in packets(tmp_path / "ser.mkv", "video")]  # packet times and durations
    assert packets(tmp_path / "thr.mkv", "audio") == packets(src, "audio")
    assert video_frames(tmp_path / "thr.mkv")[0] == video_frames(src)[0]
    assert {"decode", "segment", "pipeline", "encode", "pipeline waiting"} <= set(threaded.stage_ms)
    assert all(v >= 0 for v in threaded.stage_ms.values()) and "pipeline waiting" not in serial.stage_ms


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
                vf = vf.reformat(format="yuv420p", dst_colorspace=video_module._SWS_CS[color.colorspace],
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
                f = f.reformat(format="yuv420p", dst_colorspace=video_module._SWS_CS[color.colorspace],
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


class IdentityPipeline:
    """Leaves every frame as it is (so the round trip alone is measured)."""

    last_timings: dict[str, float] = {}

    def reset(self) -> None:
        pass

    def process(self, rgb: np.ndarray) -> np.ndarray:
        return rgb.copy()


def yuv_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="yuv420p") for f in c.decode(video=0)]


def _fail_in(stage: str, when: int, exc: BaseException,
             monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], list[int]]:
    """Make the decode, pipeline or encode stage raise ``exc`` at its ``when``-th call of a run.

    Returns the names of the threads it was raised in, and the call count to clear between runs.
    """
    seen: list[str] = []
    calls: list[int] = []

    def hit(n: int) -> None:
        if n == when:
            seen.append(threading.current_thread().name)
            raise exc

    if stage == "decode":
        real_packets = video_module._packets

        def failing_packets(container, path):
            for n, packet in enumerate(real_packets(container, path)):
                hit(n)
                yield packet

        monkeypatch.setattr(video_module, "_packets", failing_packets)
    else:
        cls, name = (Pipeline, "process") if stage == "pipeline" else (VideoWriter, "write")
        real = getattr(cls, name)

        def failing(self, *a, **kw):
            calls.append(1)
            hit(len(calls))
            return real(self, *a, **kw)

        monkeypatch.setattr(cls, name, failing)
    return seen, calls


@pytest.mark.parametrize("stage", ["decode", "pipeline", "encode"])
def test_error_in_any_stage_is_one_line_and_stops_everything(tmp_path: Path, model_path: Path, stage: str,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / "in.mp4", frames=16)
    dst = tmp_path / "out.mp4"
    named = {"decode": src, "pipeline": src, "encode": dst}[stage]
    exc = {"decode": VideoError(f"{src}: cannot read, truncated or corrupt (Invalid data)"),
           "pipeline": ValueError("the model returned NaN"),
           "encode": VideoError(f"{dst}: cannot write (No space left on device)")}[stage]
    seen, calls = _fail_in(stage, 5, exc, monkeypatch)
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 1
    err = capsys.readouterr().err.strip()
    assert_one_line_naming(err, named)
    assert "NaN" in err if stage == "pipeline" else str(exc) in err
    assert seen == [{"decode": "segblur-video-decode", "pipeline": "MainThread",
                     "encode": "segblur-video-encode"}[stage]]
    assert not dst.exists() and not leftovers(tmp_path) and not video_threads()
    # The one-thread loop fails with the same error.
    pipe = Pipeline(model_path)
    calls.clear()
    with pytest.raises(type(exc)) as threaded:
        process_video(src, dst, pipe)
    calls.clear()
    with pytest.raises(type(exc)) as serial:
        process_video(src, dst, pipe, threads=False)
    assert str(threaded.value) == str(serial.value) == str(exc)
    assert not dst.exists() and not leftovers(tmp_path) and not video_threads()


@pytest.mark.parametrize("stage", ["decode", "pipeline", "encode"])
def test_keyboard_interrupt_in_any_stage_cleans_up(tmp_path: Path, model_path: Path, stage: str,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = make_video(tmp_path / "in.mkv", frames=16)
    _fail_in(stage, 4, KeyboardInterrupt(), monkeypatch)
    dst = tmp_path / "o.mkv"
    assert main(["video", str(src), "-o", str(dst), "--model", str(model_path), "-q"]) == 130
    assert "interrupted" in capsys.readouterr().err
    assert not dst.exists() and not leftovers(tmp_path) and not video_threads()


def test_ctrl_c_while_waiting_for_frames(tmp_path: Path, model_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A real SIGINT reaches the caller's thread while it waits on the decode thread, which then stops too."""
    src = make_video(tmp_path / "in.mp4", frames=30)
    real_packets = video_module._packets

    def slow_packets(container, path):
        for n, packet in enumerate(real_packets(container, path)):
            if n == 3:
                os.kill(os.getpid(), signal.SIGINT)
            if n >= 3:
                time.sleep(0.05)  # the pipeline thread is left waiting in its queue
            yield packet

    monkeypatch.setattr(video_module, "_packets", slow_packets)
    assert main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "--model", str(model_path), "-q"]) == 130
    assert not (tmp_path / "o.mp4").exists() and not leftovers(tmp_path) and not video_threads()


def test_default_x264_settings(tmp_path: Path) -> None:
    """segblur's own speed setting applies only when the user names no preset."""
    assert video_module._codec_options("libx264", None) == ({"crf": "23", "preset": "veryfast",
                                                             "x264-params": "subme=1"}, None)
    assert video_module._codec_options("libx264", 18, "slow") == ({"crf": "18", "preset": "slow"}, None)
    assert video_module._codec_options("libx265", None)[0] == {"crf": "28", "preset": "veryfast"}


def stream_codecs(path: Path) -> dict[str, str]:
    with av.open(str(path)) as c:
        return {s.type: s.codec_context.name for s in c.streams}


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


def test_missing_pyav_is_one_error_for_all_inputs(tmp_path: Path, model_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    code = main(["video", str(tmp_path / "a.mp4"), str(tmp_path / "b.mp4"), "-o", str(tmp_path / "out"),
                 "--model", str(model_path)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "PyAV" in err and "Traceback" not in err
    assert len(err.splitlines()) == 1
