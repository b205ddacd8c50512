"""Small file helpers with one home each: atomic writes, id lists and one-line error reasons.

Imports only the standard library, so the runtime, media, data and training wings all reach it without cycles.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_PREFIX = ".segblur-"  # hidden temp files: TEMP_PREFIX + 8 hex digits + TEMP_SUFFIX
TEMP_SUFFIX = ".tmp"


def one_line(e: BaseException, limit: int = 200) -> str:
    """A short one-line reason for an error, for "FILE: cannot ... (REASON)" reports.

    OS errors give their strerror; OpenCV/FFmpeg messages lose their "[where] " prefix; an error
    re-raised from a DataLoader worker (its text holds the worker's traceback) gives the original
    exception's message, not the traceback.
    """
    text = str(getattr(e, "strerror", None) or e or "").strip()
    if not text:
        return type(e).__name__
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if len(lines) > 1 and "Traceback" in text:
        head, _, rest = lines[-1].partition(": ")
        line = rest if rest and head.endswith(("Error", "Exception")) else lines[-1]
    else:
        line = lines[-1] if len(lines) > 1 else lines[0]
    return line.split("] ", 1)[-1][:limit]


def read_ids(path: str | Path) -> list[str]:
    """Ids or names listed one per line (split and class files): stripped, blank and ``#`` lines skipped,
    duplicates dropped in order. OSError/UnicodeDecodeError propagate for the caller to name the file."""
    seen: dict[str, None] = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            seen.setdefault(line, None)
    return list(seen)


def open_temp(path: str | Path) -> tuple[int, Path]:
    """Create a new hidden temp file beside ``path``; returns (fd, temp path).

    The name is short and fixed-length (not derived from ``path``'s name), so any name that fits
    the file system also leaves room for its temp file. Created with mode 0666 so the umask
    applies, as for any normal file (mkstemp would force 0600).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = Path(path).parent / f"{TEMP_PREFIX}{secrets.token_hex(4)}{TEMP_SUFFIX}"
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def write_atomic(path: str | Path, data: bytes | Callable[[BinaryIO], object],
                 check: Callable[[Path], None] | None = None) -> None:
    """Write ``path`` via a temp file in the same folder, fsync and a rename: never a half-written file.

    ``data`` is the bytes to write, or a function that writes into the open binary file (``torch.save``,
    an encoder). ``check(temp_path)`` runs on the complete temp file before the rename; if it raises,
    nothing is written. The folder is created if needed.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = open_temp(p)
    try:
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
        tmp.unlink(missing_ok=True)
        raise
