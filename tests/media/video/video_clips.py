"""Small synthetic clips and what the video tests read back from them (PyAV is imported by the tests first)."""

from __future__ import annotations

import threading
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

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


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".segblur-"))


def video_threads() -> list[str]:
    """Names of the live decode/encode threads of process_video."""
    return [t.name for t in threading.enumerate() if t.name.startswith("segblur-video")]


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


def stream_codecs(path: Path) -> dict[str, str]:
    with av.open(str(path)) as c:
        return {s.type: s.codec_context.name for s in c.streams}
