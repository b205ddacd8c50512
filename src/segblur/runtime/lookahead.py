"""Frames in flight for files: the model segments the next frames in worker threads while this one is finished.

A video file's frames are known ahead of time, and the model's run on a frame depends on nothing but
that frame (the temporal smoothing after it is what needs the frames in order). :class:`Lookahead`
wraps a :class:`~segblur.runtime.segmenter.Segmenter`: :meth:`Lookahead.submit` starts segmenting a
frame in a pool of ``workers`` threads, and :meth:`Lookahead.predict_lowres` (what the pipeline calls)
returns that result when the same frame (the same array) comes through, or segments it there and
then. Set it as a :class:`~segblur.runtime.pipeline.Pipeline`'s ``segmenter`` and the pipeline runs
unchanged, with identical results, while the model's work spreads over as many cores as there are
workers. ONNX Runtime, OpenCV and numpy release the GIL, so the threads run in parallel.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from .motion import Box
from .segmenter import Segmenter


class Lookahead:
    """A segmenter that works ahead on submitted frames (see the module). Use as a context manager, or :meth:`close`."""

    def __init__(self, segmenter: Segmenter, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.segmenter = segmenter
        self.workers = workers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="segblur-model")
        self._pending: collections.deque[tuple[np.ndarray, Box | None, Future]] = collections.deque()
        self.hits = 0  # predictions answered from work done ahead

    def submit(self, image: np.ndarray, box: Box | None = None) -> None:
        """Start segmenting ``image`` (kept as is: pass the array that will later be processed), or its part
        ``box`` (the crop the pipeline expects to look at, :meth:`Pipeline.next_box`)."""
        self._pending.append((image, box, self._pool.submit(self.segmenter.predict_lowres, image, None, box)))

    def predict_lowres(self, image: np.ndarray, keep: Sequence[str] | None = None,
                       box: Box | None = None) -> np.ndarray:
        """The foreground probability of ``image`` (or its part ``box``): worked out ahead if it was submitted
        so, else now. Frames submitted before the one answered were skipped: their work is dropped. A request
        that was not submitted (another crop, a look at the whole frame) leaves the work ahead in place."""
        if keep is None:
            for k, (ahead, ahead_box, future) in enumerate(self._pending):
                if ahead is image and ahead_box == box:
                    for _ in range(k + 1):
                        _, _, skipped = self._pending.popleft()
                        if skipped is not future:
                            skipped.cancel()  # a frame that was skipped (dropped, or processed without it)
                    self.hits += 1
                    return future.result()
        return self.segmenter.predict_lowres(image, keep, box)

    def __getattr__(self, name: str) -> Any:  # info, keep, classes, model, ...: the wrapped segmenter's
        if name == "segmenter":  # not set yet (or gone): no recursion
            raise AttributeError(name)
        return getattr(self.segmenter, name)

    def close(self) -> None:
        """Stop the workers (work still queued is dropped)."""
        for _, _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Lookahead:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
