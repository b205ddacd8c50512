"""Several video files through one processor, one after the other: what ``segblur video`` runs.

Checks that concern the whole batch (an output folder for several inputs, PyAV, the encoder)
fail at once with :class:`VideoError`; after that each input ends in a :class:`VideoResult`, a
failure being one line naming the file, and the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2

from ...io import STDOUT, in_the_way, one_line, split_repeats, thread_refused
from ..images import WRITE_SUFFIXES, names_a_folder
from ..protocols import FrameProcessor, ProgressLine
from .codecs import CONTAINERS, MATTE_FORMATS, check_codec, check_container, default_codec, is_frame_folder, kind_format
from .errors import VideoError, require_av
from .process import VideoStats, process_video
from .reader import probe_video, still_image


@dataclass
class VideoResult:
    """How one input of :func:`process_videos` ended: its stats, or the one line saying why it failed."""

    src: Path
    dst: Path
    stats: VideoStats | None = None
    error: str = ""


def plan_outputs(inputs: Sequence[str | Path], output: str | Path, kind: str = "rgb") -> list[tuple[Path, Path]]:
    """(input, output) pairs: ``output`` is the file for one input unless it is a folder (or a string ending in a
    path separator: ``out/``), else ``output/<name>``.

    Several inputs and an ``output`` that is a file, or is named like a video file, are a :class:`VideoError`
    (a folder named ``x.mp4`` is never what was meant). A ``matte`` goes to a video file when ``output`` has a
    video suffix, else to folders of PNG frames: ``output`` itself for one input, ``output/<input stem>`` for
    several; an ``output`` named like an image (``matte.png``) is refused rather than made a folder. An input named
    twice (``a.mp4 ./a.mp4``) is processed once.
    """
    if str(output) == STDOUT:  # a folder named "-" was made instead
        raise VideoError("-o -: videos are written to files; give a file or folder name")
    inputs = split_repeats(list(inputs))[0]  # a video named twice (a.mp4 ./a.mp4) is one input, as image does
    named_folder = names_a_folder(output)
    out = Path(output)
    if is_frame_folder(out, kind) and out.suffix.lower() in WRITE_SUFFIXES and not out.is_dir():
        videos = ", ".join(sorted(s for s, f in CONTAINERS.items() if f in MATTE_FORMATS))
        raise VideoError(f"{output}: names an image; a video's matte is a folder of PNG frames (-o DIR) or a "
                         f"lossless video ({videos})")
    if is_frame_folder(out, kind):
        _nothing_in_the_way(output, folder=True)
        pairs = [(Path(inputs[0]), out)] if len(inputs) == 1 else [(Path(i), out / Path(i).stem) for i in inputs]
    elif len(inputs) == 1 and not out.is_dir() and not named_folder:
        check_container(output)  # said once, up front (exit 2), not as the input's failure
        _nothing_in_the_way(output, folder=False)
        pairs = [(Path(inputs[0]), out)]
    elif out.is_file() or (not out.is_dir() and out.suffix.lower() in CONTAINERS):
        raise VideoError(f"{output}: {'is' if out.is_file() else 'names'} a file; several inputs need an output "
                         "folder")
    else:
        _nothing_in_the_way(output, folder=True)
        pairs = [(Path(i), out / Path(i).name) for i in inputs]
    return pairs


def _nothing_in_the_way(output: str | Path, folder: bool) -> None:
    """:class:`VideoError` when ``output`` cannot be written as a file or made a ``folder``: one line before any
    input is read, not "File exists" for every input."""
    reason = in_the_way(output, folder)
    if reason:
        raise VideoError(f"{reason}; choose another output")


def process_videos(inputs: Sequence[str | Path], output: str | Path, processor: FrameProcessor, *,
                   codec: str | None = None, crf: float | None = None, preset: str | None = None,
                   workers: int | None = None, notify: Callable[[str], None] | None = None,
                   progress: Callable[[int | None], ProgressLine] | None = None,
                   kind: str = "rgb") -> Iterator[VideoResult]:
    """Run :func:`~segblur.media.video.process.process_video` on each input; yields each one's :class:`VideoResult`.

    Raises :class:`VideoError` before any input when the outputs cannot be planned (or cannot hold frames of
    ``kind``, see :func:`~segblur.media.video.process.process_video`), PyAV is missing, or an encoder (``codec``,
    else each output's default) is not here or does not open with ``crf`` and ``preset``. ``preset`` is the
    x264/x265 speed preset; ``workers`` the frames the model works on at once
    (:func:`~segblur.media.video.process.process_video`); ``progress(frames)`` makes the progress line of one
    video (its frame count, None if unknown). A failed input's progress line is cleared before its result is
    yielded, and closed after. A thread the system refuses (:func:`segblur.io.thread_refused`) is raised as it is,
    stopping the batch: every other input would fail the same way.
    """
    jobs = plan_outputs(inputs, output, kind)
    require_av()  # once, before any input: without PyAV no video can be processed
    encoders = {}  # each encoder (and pixel format) once, before any input
    for _, dst in jobs:
        if is_frame_folder(dst, kind):
            continue  # PNG frames
        table_codec, pix_fmt = kind_format(dst, kind)
        encoders[(codec or table_codec or default_codec(dst), pix_fmt)] = None
    for name, pix_fmt in encoders:
        check_codec(name, crf, preset, pix_fmt)
    options = {"preset": preset} if preset else None
    return _each(jobs, processor, progress, codec=codec, crf=crf, options=options, workers=workers, notify=notify,
                 kind=kind)


def _each(jobs: list[tuple[Path, Path]], processor: FrameProcessor,
          progress: Callable[[int | None], ProgressLine] | None, **settings: object) -> Iterator[VideoResult]:
    seen: set[Path] = set()
    for src, dst in jobs:
        line = None
        try:
            try:
                if dst in seen:
                    raise VideoError(f"{src}: another input already writes {dst}")
                seen.add(dst)
                info = probe_video(src)
                photo = still_image(src, info.frames)
                if photo:
                    raise VideoError(photo)
                line = progress(info.frames) if progress is not None else None
                stats = process_video(src, dst, processor, progress=line, info=info, **settings)
            except (VideoError, cv2.error, MemoryError, ValueError, OSError) as e:  # all one video can cause
                if line is not None:
                    line.clear()
                if thread_refused(e):  # the system's limit, not this video's fault: the caller stops the batch
                    raise
                yield VideoResult(src, dst, error=str(e) if isinstance(e, VideoError) else
                                  f"{src}: cannot process ({one_line(e)})")
                continue
        finally:
            if line is not None:
                line.close()
        yield VideoResult(src, dst, stats)
