"""Output containers and video encoders: which muxer a suffix means, each codec's quality and speed settings."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from .errors import VideoError, load_av

# Output suffix -> FFmpeg muxer (the temp file has no suffix, so the format is named explicitly).
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm", ".avi": "avi"}
DEFAULT_CRF = {"libx264": 23, "libx265": 28, "libvpx-vp9": 32, "libvpx": 10, "libaom-av1": 32, "libsvtav1": 35}
# The CRF each encoder takes (8-bit video; libavcodec would clamp a value outside silently, or take -1 as "unset").
# Encoders without CRF map it to a qscale (see codec_options), from x264's scale.
CRF_RANGE = {"libx264": (0, 51), "libx265": (0, 51), "libvpx-vp9": (0, 63), "libvpx": (0, 63), "libaom-av1": (0, 63),
             "libsvtav1": (1, 63)}
LOSSLESS = ("ffv1", "png", "prores_ks", "prores_aw")  # no quality setting (ProRes: the profile's)
# Suffixes taken as video files where images are also accepted (``segblur mask``).
VIDEO_SUFFIXES = (*CONTAINERS, ".mpg", ".mpeg", ".ts", ".mts", ".m2ts", ".wmv", ".flv", ".3gp", ".ogv", ".mxf")
# What a processed frame holds: RGB (the default), RGB with an alpha channel (a transparent background), or a
# single-channel matte. The last two need the encoder and pixel format below for their container.
KINDS = ("rgb", "rgba", "matte")
ALPHA_FORMATS = {"mov": ("prores_ks", "yuva444p10le"),  # ProRes 4444: what video editors take
                 "webm": ("libvpx-vp9", "yuva420p"),  # VP9 with alpha: what browsers play
                 "matroska": ("ffv1", "yuva444p")}  # FFV1: lossless, for archives and FFmpeg tools
MATTE_FORMATS = {"matroska": ("ffv1", "gray"), "mov": ("png", "gray")}  # lossless 8-bit grey
# Encoders that store any width and height in 4:2:0 and 4:2:2 (the chroma planes rounded up). The others, above all
# H.264 and H.265 (libx264, libx265), store only even sides there, so an odd frame size is padded by one edge pixel.
ODD_SIZES = ("libvpx-vp9", "libvpx", "ffv1", "mpeg4", "mjpeg")
ALPHA_NAMES = {"prores_ks": "ProRes 4444", "libvpx-vp9": "VP9 with alpha", "ffv1": "FFV1"}  # for messages


def check_container(path: str | Path) -> None:
    """VideoError (one line naming ``path``) unless its suffix is a container a video is written as (CONTAINERS)."""
    suffix = Path(path).suffix.lower()
    if suffix not in CONTAINERS:
        what = f"cannot write '{Path(path).suffix}' video" if suffix else "has no video suffix"
        raise VideoError(f"{path}: {what} (use one of {', '.join(CONTAINERS)})")


def default_codec(path: str | Path) -> str:
    """libvpx-vp9 for .webm (the only video codecs WebM allows are VP8, VP9 and AV1), libx264 otherwise."""
    return "libvpx-vp9" if Path(path).suffix.lower() == ".webm" else "libx264"


def even_sides(codec: str, pix_fmt: str) -> tuple[bool, bool]:
    """Whether ``codec`` needs an even (width, height) for frames in ``pix_fmt``: 4:2:0 halves both, 4:2:2 the width,
    unless the encoder is one of :data:`ODD_SIZES`."""
    if codec in ODD_SIZES:
        return False, False
    return (pix_fmt.startswith(("yuv420", "yuv422", "nv12", "nv21", "yuvj420", "yuvj422", "yuva420", "yuva422")),
            pix_fmt.startswith(("yuv420", "nv", "yuvj420", "yuva420")))


def is_frame_folder(path: str | Path, kind: str) -> bool:
    """Whether output ``path`` of frames of ``kind`` is a folder of PNG frames: a matte without a video suffix."""
    return kind == "matte" and Path(path).suffix.lower() not in CONTAINERS


def kind_format(path: str | Path, kind: str) -> tuple[str | None, str]:
    """(encoder, pixel format) for frames of ``kind`` in a file named ``path``: (None, yuv420p) for ``rgb``
    (the default encoder of :func:`default_codec`); :class:`VideoError` when the container cannot hold the kind."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "rgb":
        return None, "yuv420p"
    table = ALPHA_FORMATS if kind == "rgba" else MATTE_FORMATS
    fmt = CONTAINERS.get(Path(path).suffix.lower())
    if fmt not in table:
        suffixes = ", ".join(sorted(s for s, f in CONTAINERS.items() if f in table))
        what = "a transparent background" if kind == "rgba" else "a lossless matte"
        raise VideoError(f"{path}: cannot hold {what}; use {suffixes}")
    return table[fmt]


def codec_options(codec: str, crf: float | None, preset: str | None = None) -> tuple[dict[str, str], int | None]:
    """Encoder options for a constant-quality ``crf`` and, for codecs without CRF, a qscale (1..31) to use.

    ``preset`` is the user's x264/x265 preset; without one segblur uses its own speed setting.
    """
    if codec in ("prores_ks", "prores_aw"):
        return {"profile": "4"}, None  # 4444 (the only ProRes profile with alpha); quality is the profile's
    if codec in LOSSLESS:
        return {}, None  # lossless: no quality setting
    crf = DEFAULT_CRF.get(codec, 23) if crf is None else crf
    q = f"{crf:g}"
    if codec == "libx264" and preset is None:
        # veryfast with subme=1 (superfast's sub-pixel motion search, but veryfast's macroblock-tree
        # rate control): 1080p on 2 loaded cores took 17 instead of 28 ms CPU per frame for 7 %
        # more bits and -0.15 dB PSNR; superfast itself needed 1.8x the bits at the same CRF.
        # veryfast was already half the time of x264's "medium", which alone was slower than the pipeline.
        return {"crf": q, "preset": "veryfast", "x264-params": "subme=1"}, None
    if codec in ("libx264", "libx265"):
        return {"crf": q, "preset": preset or "veryfast"}, None
    if codec in ("libvpx-vp9", "libvpx", "libaom-av1"):
        # Constant quality needs b=0 (VP8 needs a cap); cpu-used 4 and row-mt keep VP9 near x264's speed.
        opts = {"crf": q, "b": "0" if codec != "libvpx" else "4M", "row-mt": "1"}
        if codec != "libaom-av1":
            opts.update({"deadline": "good", "cpu-used": "4"})
        return opts, None
    if codec == "libsvtav1":
        return {"crf": q}, None
    # mpeg4, mjpeg, ...: fixed quantiser scaled from the CRF (23 -> 4, a good quality).
    return {}, int(min(31, max(1, round(crf / 6))))


def _is_alpha(pix_fmt: str) -> bool:
    """Whether ``pix_fmt`` is one that --alpha writes (a transparent background)."""
    return pix_fmt in {pf for _, pf in ALPHA_FORMATS.values()}


def _suggestion(pix_fmt: str) -> str:
    """What to try instead of an encoder that failed for ``pix_fmt``: for a transparent background (--alpha), the
    encoders that carry alpha and their containers, not libx264 (which has none)."""
    if not _is_alpha(pix_fmt):
        return "try libx264, libvpx-vp9 or mpeg4"
    suffix = {f: s for s, f in reversed(CONTAINERS.items())}  # the first suffix of each container
    choices = [f"{ALPHA_NAMES.get(codec, codec)} ({codec}) in {suffix[f]}" for f, (codec, _) in ALPHA_FORMATS.items()]
    return f"for --alpha use {', '.join(choices[:-1])} or {choices[-1]} (each the default when --codec is left out)"


X26X_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow",
                "placebo")


def check_codec(name: str, crf: float | None = None, preset: str | None = None, pix_fmt: str = "yuv420p") -> None:
    """Raise :class:`VideoError` (one line) unless ``name`` is a video encoder here that opens with ``crf``,
    ``preset`` and ``pix_fmt``: checked on a small trial encoder before any input is read, so a bad setting is
    one line up front instead of a failure at the first frame (and x264's own complaint on the terminal).
    """
    av = load_av()
    try:
        codec = av.Codec(name, "w")
    except (av.error.FFmpegError, ValueError):
        codec = None
    if codec is None or codec.type != "video":
        raise VideoError(f"no video encoder {name!r} in this FFmpeg build; {_suggestion(pix_fmt)}")
    if preset is not None:
        if name not in ("libx264", "libx265"):
            raise VideoError(f"--preset is for libx264 and libx265, not {name}")
        if preset not in X26X_PRESETS:  # x264 itself would print its own line about it on the terminal
            raise VideoError(f"unknown preset {preset!r} for {name} (choose from {', '.join(X26X_PRESETS)})")
    formats = [f.name for f in codec.video_formats or ()]
    if formats and pix_fmt not in formats:
        takes = "a transparent background" if _is_alpha(pix_fmt) else f"it takes {', '.join(formats)}"
        raise VideoError(f"{name} cannot encode {pix_fmt} video ({takes}); {_suggestion(pix_fmt)}")
    if crf is not None:
        if name in LOSSLESS:
            raise VideoError(f"--crf does not apply to {name}, which has no quality setting; leave it out")
        lo, hi = CRF_RANGE.get(name, (0, 51))
        if not lo <= crf <= hi:
            raise VideoError(f"--crf {crf:g} is out of range for {name} ({lo}..{hi}, lower is better)")
    opts, qscale = codec_options(name, crf, preset)
    trial = av.CodecContext.create(codec, "w")
    trial.width, trial.height, trial.pix_fmt = 64, 64, pix_fmt
    trial.time_base, trial.framerate = Fraction(1, 25), 25
    if qscale is not None:
        trial.qscale = True
        trial.global_quality = qscale * 118  # FF_QP2LAMBDA
    trial.options = opts
    try:
        trial.open()
    except (av.error.FFmpegError, ValueError, OverflowError) as e:
        if isinstance(e, OverflowError) or "out of range" in str(e):
            value = crf if crf is not None else DEFAULT_CRF.get(name, 23)
            raise VideoError(f"--crf {value:g} is out of range for {name}") from None
        raise VideoError(f"{name} cannot encode with these settings ({getattr(e, 'strerror', None) or e}); "
                         f"{_suggestion(pix_fmt)}") from None
