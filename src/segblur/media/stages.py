"""Stop-aware thread stages: the one toolkit under the video file loop and the live camera loop.

A run is a :class:`Stages`: one stop event, the worker threads started under it, and the
mailboxes between them, a bounded FIFO :class:`Channel` and a one-item :class:`LatestSlot` that
keeps only the newest item. Mailboxes wait in short steps, so that once the run stops they
raise :class:`StoppedError` within ``POLL`` seconds instead of blocking forever. A worker that fails
keeps its exception and stops the run; leaving ``with Stages()`` stops and joins every worker
(through a second Ctrl-C too) and raises the first worker's error in the caller's thread, unless
the caller's own exception is already on its way.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

POLL = 0.05  # seconds between looks at the stop event while a mailbox is full or empty
JOIN_S = 10.0  # seconds to wait for the workers once stopped (they stop within one frame)


class StoppedError(Exception):
    """Raised by a mailbox once the run stops (a stage failed or the caller ended it): the stage should end."""


class _End:
    def __repr__(self) -> str:
        return "END"


END: Any = _End()  # the end of the stream, passed down the mailboxes after the last item
_EMPTY = object()


class Channel:
    """A bounded FIFO between two stages: a full one holds the producer back, ``size`` items absorb jitter."""

    def __init__(self, stop: threading.Event, size: int) -> None:
        self._stop = stop
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=size)

    def put(self, item: Any) -> None:
        """Add ``item``, waiting while the channel is full; :class:`StoppedError` once the run stops."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=POLL)
                return
            except queue.Full:
                pass
        raise StoppedError

    def get(self, timeout: float | None = None) -> Any:
        """The next item (:data:`END` after the last); None when ``timeout`` seconds pass without one.

        Raises :class:`StoppedError` once the run stops.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            step = POLL if deadline is None else max(0.0, min(POLL, deadline - time.monotonic()))
            try:
                return self._queue.get(timeout=step)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    return None
        raise StoppedError

    def close(self) -> None:
        """No more items: :data:`END` goes after the last one."""
        self.put(END)

    def feed(self, items: Iterable[Any]) -> None:
        """Put every one of ``items``, then :data:`END` (a producer stage's whole work)."""
        for item in items:
            self.put(item)
        self.close()

    def consume(self, work: Callable[[Any], None]) -> None:
        """Call ``work`` on each item until :data:`END` (a consumer stage's whole work)."""
        for item in self:
            work(item)

    def __iter__(self) -> Iterator[Any]:
        while (item := self.get()) is not END:
            yield item

    def leftovers(self) -> list[Any]:
        """The items still waiting (:data:`END` left out), taken without waiting: what a stopped run did not use."""
        items = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return items
            if item is not END:
                items.append(item)


class LatestSlot:
    """A one-item mailbox for live frames: ``put`` never waits, and replaces an item not taken yet.

    The replaced item is returned so that the producer can count it as dropped: a slow consumer
    then skips frames instead of falling further and further behind.
    """

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._cond = threading.Condition()
        self._item: Any = _EMPTY
        self._closed = False

    def put(self, item: Any) -> Any:
        """Leave ``item``; returns the unread item it replaced, or None."""
        with self._cond:
            old, self._item = self._item, item
            self._cond.notify()
        return None if old is _EMPTY else old

    def get(self, timeout: float | None = None) -> Any:
        """The newest item (:data:`END` once closed and empty); None when ``timeout`` seconds pass without one.

        Raises :class:`StoppedError` once the run stops.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not self._stop.is_set():
                if self._item is not _EMPTY:
                    item, self._item = self._item, _EMPTY
                    return item
                if self._closed:
                    return END
                step = POLL if deadline is None else min(POLL, deadline - time.monotonic())
                if step <= 0:
                    return None
                self._cond.wait(step)  # put() wakes it at once; the step only bounds noticing a stop
        raise StoppedError

    def close(self) -> None:
        """No more items: ``get`` gives the one waiting, if any, then :data:`END`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __iter__(self) -> Iterator[Any]:
        while (item := self.get()) is not END:
            yield item

    def leftovers(self) -> list[Any]:
        """The item still waiting, if any (taken): what a stopped run did not use."""
        with self._cond:
            item, self._item = self._item, _EMPTY
        return [] if item is _EMPTY else [item]


class Worker(threading.Thread):
    """A daemon thread running ``work(*args)``; its exception is kept (and the run stopped) for the caller to raise."""

    def __init__(self, name: str, work: Callable[..., None], args: tuple[Any, ...], stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.work, self.args, self.stop = work, args, stop
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.work(*self.args)
        except StoppedError:
            pass  # another stage failed or the caller ended the run: not this stage's error
        except BaseException as e:  # KeyboardInterrupt too: the caller's thread raises it
            self.error = e
            self.stop.set()


class Stages:
    """The stop event, workers and mailboxes of one run. Use as a context manager (see the module's notes)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.workers: list[Worker] = []

    def channel(self, size: int) -> Channel:
        return Channel(self.stop, size)

    def latest(self) -> LatestSlot:
        return LatestSlot(self.stop)

    def start(self, name: str, work: Callable[..., None], *args: Any) -> Worker:
        """Start ``work(*args)`` in a worker thread called ``name``."""
        worker = Worker(name, work, args, self.stop)
        self.workers.append(worker)
        worker.start()
        return worker

    def wait(self) -> None:
        """Wait until every worker has finished its work (in short steps, so that Ctrl-C gets through)."""
        for w in self.workers:
            while w.is_alive():
                w.join(POLL)

    def __enter__(self) -> Stages:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any) -> bool:
        self.stop.set()
        self._join()
        if exc_type is not None and not issubclass(exc_type, StoppedError):
            return False  # the caller's own error (or Ctrl-C) goes on
        for w in self.workers:
            if w.error is not None:
                raise w.error
        return exc_type is not None  # StoppedError without a failed worker: the run was ended on purpose

    def _join(self) -> None:
        """Wait (up to ``JOIN_S`` seconds) for the stopped workers, so the caller may close their files."""
        deadline, interrupted = time.monotonic() + JOIN_S, None
        for w in self.workers:
            while w.is_alive() and time.monotonic() < deadline:
                try:
                    w.join(POLL)
                except KeyboardInterrupt as e:  # a second Ctrl-C: finish stopping first, then raise it
                    interrupted = e
        if interrupted is not None:
            raise interrupted
