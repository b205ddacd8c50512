"""Small file helpers with one home each: atomic writes (and the clean-up of what a killed run left), the check
that an output never replaces an input, id lists and one-line error reasons.

Imports only the standard library, so the runtime, media, data and training wings all reach it without cycles.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

TEMP_PREFIX = ".segblur-"  # hidden temp files: TEMP_PREFIX + 8 hex digits + TEMP_SUFFIX
TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(re.escape(TEMP_PREFIX) + r"[0-9a-f]{8}" + re.escape(TEMP_SUFFIX) + r"\Z")
# A temp file untouched this long, and open in no process, was left by a killed run: a live writer (a video
# being encoded, a recording, a checkpoint being saved) writes to its temp file far more often than this.
STALE_AFTER_S = 15 * 60
_swept: set[str] = set()  # folders already cleaned by this process
STDOUT = "-"  # the Unix spelling of standard output as an output file name
T = TypeVar("T")


class OverwriteError(ValueError):
    """An output that would replace one of the command's inputs, or be written inside an input folder (one line)."""


def one_line(e: BaseException, limit: int = 200) -> str:
    """A short one-line reason for an error, for "FILE: cannot ... (REASON)" reports.

    OS errors give their strerror; OpenCV/FFmpeg messages lose their "[where] " prefix; an error
    re-raised from a DataLoader worker (its text holds the worker's traceback) gives the original
    exception's message, not the traceback. A YAML syntax error (PyYAML's, whose text ends with a caret under a
    quoted line) gives its problem with the line and column.
    """
    mark = getattr(e, "problem_mark", None)
    if mark is not None and getattr(e, "problem", None):
        return _cut(f"line {mark.line + 1}, column {mark.column + 1}: {e.problem}", limit)
    text = str(getattr(e, "strerror", None) or e or "").strip()
    if not text:
        return type(e).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1 and "Traceback" in text:
        head, _, rest = lines[-1].partition(": ")
        line = rest if rest and head.endswith(("Error", "Exception")) else lines[-1]
    else:
        line = lines[-1] if len(lines) > 1 else lines[0]
    return _cut(line.split("] ", 1)[-1], limit)


# What a command says when the system refuses it a thread (a process/thread limit reached, RLIMIT_NPROC): one line, not
# a traceback, nor a healthy input blamed as corrupt.
NO_THREAD = "the system could not start a thread (too many processes or threads for this user: see ulimit -u)"


def thread_refused(e: BaseException) -> bool:
    """Whether ``e`` is the system refusing a new thread: Python's "can't start new thread", or EAGAIN ("Resource
    temporarily unavailable", which no regular file gives) from a library starting its own threads, as FFmpeg's
    decoder and scaler do."""
    if isinstance(e, RuntimeError):
        return "can't start new thread" in str(e)
    # EAGAIN naming a file is that file's (a non-blocking descriptor, a lock taken elsewhere), not the system's limit
    return isinstance(e, OSError) and e.errno == errno.EAGAIN and e.filename is None


def _cut(text: str, limit: int) -> str:
    """``text`` in at most ``limit`` characters: cut at a word boundary where one is near, marked with "...",
    so a long message never ends mid-word as if that were all of it."""
    if len(text) <= limit:
        return text
    head = text[:limit - 4]
    space = head.rfind(" ")
    return (head[:space] if space > limit // 2 else head).rstrip(" ,;:") + " ..."


def read_ids(path: str | Path) -> list[str]:
    """Ids or names listed one per line (split and class files): stripped, blank and ``#`` lines skipped,
    duplicates dropped in order. OSError/UnicodeDecodeError propagate for the caller to name the file."""
    seen: dict[str, None] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            seen.setdefault(line, None)
    return list(seen)


def split_repeats(items: Iterable[T], path: Callable[[T], str | Path] = lambda item: item
                  ) -> tuple[list[T], list[tuple[T, T]]]:
    """``items`` without those whose ``path`` names a file named before (``a.jpg ./a.jpg``, a symbolic link to it:
    the same real path), the first spelling kept; and each repeat with the item it repeats.

    The one way a command treats an input given twice: processed once (``image``, ``video``) or refused by name.
    """
    first: dict[str, T] = {}
    kept: list[T] = []
    repeats: list[tuple[T, T]] = []
    for item in items:
        real = os.path.realpath(path(item))
        if real in first:
            repeats.append((item, first[real]))
        else:
            first[real] = item
            kept.append(item)
    return kept, repeats


def check_output(output: str | Path, inputs: Iterable[str | Path | None],
                 sources: Iterable[str | Path] = ()) -> None:
    """Raise :class:`OverwriteError` when writing ``output`` would replace one of ``inputs`` (the same path, a link
    to it or a hard link of it), land inside one of them that is a folder (a data or calibration folder), or lie
    under one that is a file.

    The one check every writing command runs on its model, checkpoint, data and calibration inputs before it
    writes anything; None entries (options not given) are skipped. ``sources`` are the photos, videos and folders
    a command works through: the output may not be one of them or lie under one that is a file, but may be a folder
    inside a source folder (the command skips it when it reads that folder: ``image photos/ -o photos/blurred``).
    """
    out = Path(output)
    out_real = os.path.realpath(out)
    out_id = _file_id(out)
    given_inputs = [(i, False) for i in inputs if i is not None]
    for given, is_source in given_inputs + [(s, True) for s in sources]:
        real = os.path.realpath(given)
        if real == out_real or (out_id is not None and out_id == _file_id(Path(given))):
            raise OverwriteError(f"{output}: is the input {given}; choose another output")
        if not out_real.startswith(real.rstrip(os.sep) + os.sep):
            continue
        if not os.path.isdir(real):
            if os.path.exists(real):  # -o in.mp4/out.mp4: no file can be written there
                raise OverwriteError(f"{output}: lies under the input file {given}, not a folder; choose another "
                                     "output")
        elif not is_source:
            raise OverwriteError(f"{output}: is inside the input folder {given}; choose another output")


def _file_id(p: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing file, else None (missing, or a name the system refuses)."""
    try:
        st = p.stat()
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _open_paths() -> set[str] | None:
    """Every file some process (that this user may inspect) holds open, as real paths; None where unknown."""
    proc = Path("/proc")
    if not (proc / "self" / "fd").is_dir():
        return None
    found: set[str] = set()
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(proc / pid / "fd")
        except OSError:
            continue
        for fd in fds:
            try:
                found.add(os.readlink(proc / pid / "fd" / fd))
            except OSError:
                continue
    return found


def remove_stale_temps(folder: str | Path, older_than: float = STALE_AFTER_S) -> list[Path]:
    """Delete the temp files (and temp folders of frames) that killed segblur runs left in ``folder``; returns
    those removed.

    Only segblur's own names (``.segblur-xxxxxxxx.tmp``), only those untouched for ``older_than`` seconds (a
    folder's time changes with every file added to it), and (where ``/proc`` tells) only those no process holds
    open, or holds a file open inside, so a run writing there now is never disturbed.
    """
    now = time.time()
    stale: list[Path] = []
    try:
        with os.scandir(folder) as entries:
            for e in entries:
                if _TEMP_NAME.match(e.name) and (e.is_file(follow_symlinks=False) or e.is_dir(follow_symlinks=False)) \
                        and now - e.stat(follow_symlinks=False).st_mtime > older_than:
                    stale.append(Path(e.path))
    except OSError:
        return []
    if not stale:
        return []
    busy = _open_paths()
    removed = []
    for p in stale:
        real = os.path.realpath(p)
        if busy is not None and (real in busy or any(b.startswith(real + os.sep) for b in busy)):
            continue
        try:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
        except OSError:
            continue
        removed.append(p)
    return removed


def _sweep_once(folder: Path) -> None:
    """:func:`remove_stale_temps` in ``folder`` the first time this process writes there."""
    real = os.path.realpath(folder)
    if real not in _swept:
        _swept.add(real)
        remove_stale_temps(real)


def _temp_name(folder: Path) -> Path:
    """A new random temp name in ``folder`` (``.segblur-xxxxxxxx.tmp``), for a file or a folder."""
    return folder / f"{TEMP_PREFIX}{secrets.token_hex(4)}{TEMP_SUFFIX}"


def blocking_file(path: str | Path) -> Path | None:
    """The file (not a folder) at ``path`` or the nearest existing path above it, which would stop ``path`` from
    being written or made as a folder ("File exists", "Not a directory"); None when nothing is in the way, or when
    the system refuses the name (the writer then says why)."""
    p = Path(path)
    for q in (p, *p.parents):
        try:
            if q.exists() or q.is_symlink():
                return None if q.is_dir() else q
        except OSError:
            return None
    return None


def in_the_way(path: str | Path, folder: bool) -> str | None:
    """Why ``path`` cannot be written as a file (``folder`` False) or made a folder (True), in one line naming it
    ("out.json: is a folder, not a file", "out/x.png: out is a file, not a folder"); None when nothing stands
    in the way. The one wording of every command's up-front output check (:func:`blocking_file` finds the file)."""
    p = Path(path)
    if not folder and p.is_dir():
        return f"{path}: is a folder, not a file"
    q = blocking_file(p if folder else p.parent)
    if q is None:
        return None
    return f"{path}: is a file, not a folder" if q == p else f"{path}: {q} is a file, not a folder"


def open_temp(path: str | Path, track: list[Path] | None = None) -> tuple[int, Path]:
    """Create a new hidden temp file beside ``path``; returns (fd, temp path).

    The name is short and fixed-length (not derived from ``path``'s name), so any name that fits
    the file system also leaves room for its temp file. Created with mode 0666 so the umask
    applies, as for any normal file (mkstemp would force 0600). The first time this process writes
    to a folder, the stale temp files of killed runs are removed there (:func:`remove_stale_temps`).

    ``track``: the name is appended to it *before* the file is created, so a caller that removes what ``track``
    holds when interrupted also removes a file created just before a Ctrl-C or SIGTERM landed, between the
    creation and this function's return (a run stopped while saving a checkpoint left one behind).
    """
    _sweep_once(Path(path).parent)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = _temp_name(Path(path).parent)
        if track is not None:
            track.append(tmp)
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # another's file: never ours to remove
            if track is not None:
                track.remove(tmp)
            continue


def make_temp_folder(path: str | Path) -> Path:
    """Create a new hidden temp folder beside ``path`` (named like every segblur temp file, so one a killed run
    leaves is swept like them, see :func:`remove_stale_temps`); the parent folder is created if needed.

    For outputs made of many files (a video's PNG frames): written there, then moved into place at the end, so
    an interrupted or failed run leaves the previous output as it was.
    """
    parent = Path(path).parent
    parent.mkdir(parents=True, exist_ok=True)
    _sweep_once(parent)
    while True:
        tmp = _temp_name(parent)
        try:
            tmp.mkdir()
            return tmp
        except FileExistsError:
            continue


def remove_temps(temps: list[Path]) -> None:
    """Remove the temp files :func:`open_temp` tracked (those it had not created yet are simply absent)."""
    for t in temps:
        t.unlink(missing_ok=True)


@contextlib.contextmanager
def temp_file(beside: str | Path) -> Iterator[Path]:
    """A new, empty hidden temp file beside ``beside`` for work files that a tool wants a path for (an fp32 model
    before quantising, a model to check); removed on leaving, however. Named like every segblur temp file, so the
    one a killed run leaves is cleaned up like the others (:func:`remove_stale_temps`). The folder is created if
    needed."""
    Path(beside).parent.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    try:
        fd, tmp = open_temp(beside, made)
        os.close(fd)
        yield tmp
    finally:
        remove_temps(made)


def write_atomic(path: str | Path, data: bytes | Callable[[BinaryIO], object],
                 check: Callable[[Path], None] | None = None) -> None:
    """Write ``path`` via a temp file in the same folder, fsync and a rename: never a half-written file.

    ``data`` is the bytes to write, or a function that writes into the open binary file (``torch.save``,
    an encoder). ``check(temp_path)`` runs on the complete temp file before the rename; if it raises,
    nothing is written. The folder is created if needed.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    made: list[Path] = []
    try:
        fd, tmp = open_temp(p, made)
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        if check is not None:
            check(tmp)
        os.replace(tmp, p)
    except BaseException:
        remove_temps(made)
        raise
