"""Audio and subtitle streams carried from the input into the output: copied packet for packet, else converted.

A stream the output container cannot hold as it is gets re-encoded (audio, to the container's
usual codec) or converted (text subtitles, keeping each cue's timing); bitmap subtitles and
anything that cannot be converted are left out, each with a note.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

from ...io import one_line
from .errors import VideoError, load_av

COPIED = ("audio", "subtitle")  # stream types kept; data/attachment streams are not copied
# Encoders for audio that the output container cannot take as it is, in order of preference.
AUDIO_FALLBACK = {"webm": ("libopus", "opus", "libvorbis"), "mp4": ("aac",), "mov": ("aac",),
                  "matroska": ("aac",), "avi": ("libmp3lame", "mp3")}
# Text subtitle codec of each container (AVI has none: its subtitles are dropped).
SUBTITLE_FALLBACK = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt", "matroska": "ass"}
# A plain ASS header for text subtitle encoders (mov_text needs one) when the decoder gives none.
ASS_HEADER = (b"[Script Info]\nScriptType: v4.00+\nPlayResX: 384\nPlayResY: 288\n\n[V4+ Styles]\n"
              b"Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
              b"Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
              b"Alignment, MarginL, MarginR, MarginV, Encoding\n"
              b"Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0\n\n"
              b"[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")


def stream_label(stream: Any) -> str:
    """``audio stream #1 (aac)``: how notes name an input stream."""
    name = getattr(getattr(stream, "codec_context", None), "name", None) or "unknown codec"
    return f"{stream.type} stream #{stream.index} ({name})"


def copy_metadata(src: Any, out: Any) -> None:
    for key in ("language", "title", "handler_name"):
        if key in src.metadata:
            out.metadata[key] = src.metadata[key]


class AudioConverter:
    """Re-encodes one input audio stream, keeping its timestamps, for a container that cannot hold its codec."""

    def __init__(self, container: Any, stream: Any, codec: str, rate: int, layout: str, fmt: str) -> None:
        self.stream = stream
        self.out = container.add_stream(codec, rate=rate)
        cc = self.out.codec_context
        cc.layout, cc.format = layout, fmt
        cc.time_base = self.out.time_base = Fraction(1, rate)
        cc.bit_rate = min(320_000, 96_000 * max(1, cc.channels))  # transparent for AAC, Opus and MP3
        copy_metadata(stream, self.out)

    @staticmethod
    def settings(stream: Any, codec: str) -> tuple[int, str, str] | None:
        """(rate, layout, sample format) with which ``codec`` opens for ``stream``'s audio, or None."""
        av = load_av()
        try:
            enc, cc_in = av.Codec(codec, "w"), stream.codec_context
            cc_in.open(strict=False)  # fails here when the input cannot be decoded at all
        except (av.error.FFmpegError, ValueError):
            return None
        rate_in = cc_in.sample_rate or 48000
        rates = sorted(enc.audio_rates or [rate_in])
        rate = rate_in if rate_in in rates else next((r for r in rates if r >= rate_in), rates[-1])
        channels = cc_in.channels or 2
        layout = cc_in.layout.name if cc_in.channels and (channels <= 2 or "mp3" not in codec) else "stereo"
        fmts = [f.name for f in enc.audio_formats or []]
        fmt = next((f for f in ("fltp", "flt", "s16p", "s16") if f in fmts), fmts[0] if fmts else "fltp")
        try:
            trial = av.CodecContext.create(codec, "w")
            trial.sample_rate, trial.layout, trial.format = rate, layout, fmt
            trial.time_base = Fraction(1, rate)
            trial.open()
        except (av.error.FFmpegError, ValueError):
            return None
        return rate, layout, fmt

    def feed(self, packet: Any) -> list[Any]:
        """The encoded packets for one input packet (a damaged packet is skipped, as players do)."""
        av = load_av()
        try:
            frames = self.stream.codec_context.decode(packet)
        except (av.error.FFmpegError, ValueError):
            return []
        return [p for f in frames for p in self.out.encode(f)]

    def flush(self) -> list[Any]:
        av = load_av()
        try:
            frames = self.stream.codec_context.decode(None)
        except (av.error.FFmpegError, ValueError):
            frames = []
        return [p for f in frames for p in self.out.encode(f)] + list(self.out.encode(None))


class SubtitleConverter:
    """Converts one input text subtitle stream to the container's text subtitle codec, keeping each cue's timing."""

    def __init__(self, container: Any, stream: Any, codec: str, header: bytes) -> None:
        self.stream = stream
        self.out = container.add_stream(codec)
        tb = stream.time_base or Fraction(1, 1000)
        self.out.time_base = self.out.codec_context.time_base = tb
        self.out.codec_context.subtitle_header = header
        copy_metadata(stream, self.out)

    @staticmethod
    def header(stream: Any, codec: str) -> bytes | None:
        """The ASS header to encode ``stream``'s text subtitles with ``codec``, or None if they cannot be."""
        av = load_av()
        try:
            enc, cc_in = av.Codec(codec, "w"), stream.codec_context
            if not cc_in.codec.text_sub:
                return None  # bitmap subtitles (DVD, PGS) cannot become text
            cc_in.open(strict=False)
            header = cc_in.subtitle_header or ASS_HEADER
            trial = av.CodecContext.create(enc, "w")
            trial.subtitle_header = header
            trial.time_base = stream.time_base or Fraction(1, 1000)
            trial.open()
        except (av.error.FFmpegError, ValueError, AttributeError):
            return None
        return header

    def feed(self, packet: Any) -> list[Any]:
        """The converted packet of one cue (none for an empty or undecodable one)."""
        av = load_av()
        from av.subtitles.subtitle import SubtitleSet

        try:
            subs = self.stream.codec_context.decode2(packet)
        except (av.error.FFmpegError, ValueError):
            return []
        texts = []
        for rect in subs or ():
            parts = (getattr(rect, "ass", b"") or b"").split(b",", 8)
            if len(parts) == 9:  # an ASS event: ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text
                prefix, text = parts[:8], parts[8]
            else:
                prefix, text = [b"0", b"0", b"Default", b"", b"0", b"0", b"0", b""], getattr(rect, "text", b"")
            if text:
                texts.append((prefix, text))
        if not texts or packet.pts is None:
            return []
        line = b",".join(texts[0][0]) + b"," + b"\\N".join(t for _, t in texts)
        start = (subs.start_display_time or 0) / 1000
        end = (packet.duration * packet.time_base) if packet.duration else (subs.end_display_time or 0) / 1000
        tb = self.out.time_base
        pts = round((packet.pts * packet.time_base + Fraction(start)) / tb)
        duration = max(1, round(Fraction(end) / tb - Fraction(start) / tb))
        out = self.out.codec_context.encode_subtitle(SubtitleSet.create(line, 0, duration, pts=pts))
        out.stream, out.time_base = self.out, tb
        return [out]


class Passthrough:
    """The audio and subtitle streams of ``source`` (an open PyAV input) added to ``container``, the output.

    Each is copied as it is (as ``ffmpeg -c copy`` does) where the container can hold its codec,
    else re-encoded or converted, else left out; every conversion or omission is a line to ``note``.
    ``path`` is the output's name for error messages.
    """

    def __init__(self, container: Any, fmt: str, source: Any, path: Path, note: Callable[[str], None]) -> None:
        self.container, self.fmt, self.source, self.path, self.note = container, fmt, source, path, note
        self.remux: dict[int, Any] = {}
        self.convert: dict[int, AudioConverter | SubtitleConverter] = {}
        for s in source.streams:
            if s.type in COPIED:
                self._keep(s)

    def _keep(self, s: Any) -> None:
        """Add a copy of input stream ``s``; if the container cannot hold its codec, a converted one, or none."""
        try:
            out = self.container.add_stream_from_template(s)
        except ValueError:  # "'webm' format does not support 'aac' codec"; checked before anything is written
            out = None
        if out is not None:
            out.time_base = s.time_base  # as `ffmpeg -c copy` does: the muxer keeps the packets' clock
            copy_metadata(s, out)
            self.remux[s.index] = out
            return
        where, what = f"{self.source.name}: {stream_label(s)}", f"cannot be stored in {self.path.suffix}"
        if s.type == "audio":
            for codec in AUDIO_FALLBACK.get(self.fmt, ()):
                settings = AudioConverter.settings(s, codec)
                if settings is not None:
                    try:
                        self.convert[s.index] = AudioConverter(self.container, s, codec, *settings)
                    except ValueError:
                        continue
                    self.note(f"{where} {what}; re-encoding it to {codec}")
                    return
        else:
            codec = SUBTITLE_FALLBACK.get(self.fmt)
            header = SubtitleConverter.header(s, codec) if codec else None
            if header is not None:
                with contextlib.suppress(ValueError):
                    self.convert[s.index] = SubtitleConverter(self.container, s, codec, header)
                    self.note(f"{where} {what}; converting it to {codec}")
                    return
        self.note(f"warning: {where} {what} and cannot be converted; left out")

    @property
    def kept(self) -> int:
        """Streams written: copied as they are or converted."""
        return len(self.remux) + len(self.convert)

    def packets(self, packet: Any) -> list[Any] | None:
        """What to mux for one packet of ``source``: the packet itself, its conversion, or None if not kept."""
        if packet.dts is None or packet.size == 0:  # demuxer's flush packets carry nothing
            return None
        index = packet.stream.index if packet.stream.container is self.source else None
        out = self.remux.get(index)
        if out is not None:
            packet.stream = out
            return [packet]
        conv = self.convert.get(index)
        if conv is None:
            return None
        av = load_av()
        try:
            return conv.feed(packet)
        except (av.error.FFmpegError, ValueError) as e:
            raise VideoError(f"{self.path}: cannot encode {conv.out.type} ({one_line(e)})") from None

    def flush(self) -> list[Any]:
        """The audio encoders' last packets (subtitle cues are complete as they come)."""
        return [p for conv in self.convert.values() if isinstance(conv, AudioConverter) for p in conv.flush()]
