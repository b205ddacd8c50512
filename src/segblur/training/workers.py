"""DataLoader worker processes and the signals that end a run: workers leave Ctrl-C to the main process, start
with the signals held and are stopped at once when the loop is left by an exception, so a stopped run ends as
interrupted (130), never with "DataLoader worker exited unexpectedly"."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch.utils.data import DataLoader

from ..interrupts import signals_held


def quiet_worker(worker_id: int) -> None:
    """DataLoader workers' ``worker_init_fn``: they leave Ctrl-C and SIGHUP to the main process, which ends the run
    and them. A terminal's Ctrl-C reaches every process of the run: a worker that died of it made the main process
    end with "DataLoader worker exited unexpectedly" (exit 2) instead of "interrupted" (130). SIGTERM keeps torch's
    handler: a worker exits quietly when the main process terminates it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    sys.excepthook = _hang_ups_unsaid


def _hang_ups_unsaid(kind: type[BaseException], error: BaseException, tb: Any) -> None:
    """A worker's ``sys.excepthook``: a batch the main process stopped receiving (interrupted as it fetched the
    batch's shared memory from the worker's resource sharer) is no error; anything else is printed as usual."""
    if not issubclass(kind, (EOFError, ConnectionError)):
        sys.__excepthook__(kind, error, tb)


@contextmanager
def batches(loader: DataLoader) -> Iterator[Iterator]:
    """``iter(loader)``, its worker processes started with the signals that end a run held and stopped at once when
    the loop is left by an exception (Ctrl-C).

    A signal that arrived during a fork was raised in Python's after-fork hooks, which swallow it ("Exception
    ignored in _releaseLock"): the run went on without its Ctrl-C while the new worker, which got it too, died.
    Workers left to the interpreter's exit were killed mid-request, and multiprocessing printed a traceback.
    """
    it = None
    try:
        with signals_held():  # one that came meanwhile is raised on leaving it, the workers started
            it = iter(loader)
        yield it
    except BaseException:
        stop = getattr(it, "_shutdown_workers", None)  # torch has no public way to end a loader's workers
        if stop is not None:
            with signals_held():
                stop()
            if getattr(loader, "_iterator", None) is it:  # persistent workers: the loader must not reuse them
                loader._iterator = None
        raise
