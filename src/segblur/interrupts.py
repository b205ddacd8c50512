"""SIGTERM and SIGHUP end a run the way Ctrl-C does: as a :class:`KeyboardInterrupt` in the main thread.

``timeout``, ``kill``, a service manager and a closed terminal stop a process with SIGTERM or SIGHUP,
whose default action kills it on the spot: temp files stay behind and a recording is never
finalised. Raised as an exception instead, they take the path every command already has for
Ctrl-C (temp files removed, recordings finalised, one line, exit status 128 + the signal's number).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_received: list[int] = []  # the signals received while interrupt_on_signals() is active, in order


class Terminated(KeyboardInterrupt):
    """A KeyboardInterrupt raised by SIGTERM or SIGHUP; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: object) -> None:
    _received.append(signum)
    if signum == getattr(signal, "SIGHUP", None):
        _silence_terminal()  # the terminal is gone: writing to it would fail (EIO) in the middle of cleaning up
    raise Terminated(signum)


def _silence_terminal() -> None:
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in (1, 2):
            with contextlib.suppress(OSError):
                if os.isatty(fd):
                    os.dup2(devnull, fd)
        os.close(devnull)


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """While active, SIGTERM and SIGHUP raise :class:`Terminated` (a KeyboardInterrupt) in the main thread.

    A signal the process was started ignoring (``nohup`` ignores SIGHUP) stays ignored. The previous handlers come
    back on exit. Outside the main thread (where Python cannot set handlers) it does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    # A signal ignored on purpose stays ignored: `nohup segblur ...` must outlive its terminal.
    old = {s: signal.signal(s, _raise) for s in SIGNALS if signal.getsignal(s) is not signal.SIG_IGN}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)


def interruption() -> KeyboardInterrupt:
    """The exception to raise again for a stop that a loop caught to end cleanly (``run_stream``'s "interrupted").

    :class:`Terminated` for the last SIGTERM or SIGHUP received, else a plain KeyboardInterrupt (Ctrl-C), so
    ``cli.main`` says and returns what the signal was.
    """
    return Terminated(_received[-1]) if _received else KeyboardInterrupt()


def interrupted_status(e: BaseException | None = None) -> int:
    """The exit status of a run that was interrupted: 128 + the signal's number (130 for Ctrl-C).

    ``e`` is the KeyboardInterrupt caught, if at hand; otherwise the last signal received says.
    """
    if isinstance(e, Terminated):
        return 128 + e.signum
    if e is None and _received:
        return 128 + _received[-1]
    return 128 + signal.SIGINT


def interrupted_message(e: BaseException | None = None) -> str:
    """``interrupted`` for Ctrl-C, ``terminated (SIGTERM)`` for a signal: what the last line says."""
    signum = e.signum if isinstance(e, Terminated) else (_received[-1] if e is None and _received else None)
    return f"terminated ({signal.Signals(signum).name})" if signum is not None else "interrupted"


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """Inside, a signal that ends a run only is noted; it is raised as usual once the block is left: for work that a
    KeyboardInterrupt must not cut in two. A signal ignored stays ignored; outside the main thread, nothing.

    The handlers are swapped rather than the signals blocked: a blocked signal still reaches the process through
    its other threads (torch's, multiprocessing's), and Python then raises it in the main thread anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    old = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in (signal.SIGINT, *SIGNALS)
           if signal.getsignal(s) not in (signal.SIG_IGN, None)}
    try:
        yield
    finally:
        for s, handler in old.items():
            signal.signal(s, handler)
        if caught:
            signal.raise_signal(caught[0])  # its own handler now: KeyboardInterrupt (segblur.interrupts: Terminated)
