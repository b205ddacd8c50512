"""TFLite models run with LiteRT: the one loader shared by the MediaPipe reference and the teacher labels.

Only numpy and ``ai-edge-litert`` (the ``bench`` extra, imported when a model is loaded) are needed. The
interpreter is made by :func:`load_interpreter` unless one is passed in, so tests can inject a fake one.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np


class LiteRTError(RuntimeError):
    """A TFLite model that cannot be loaded or does not fit: one line, without the path (callers name the file)."""


def load_interpreter(path: str | os.PathLike[str], threads: int | None = None) -> Any:
    """A LiteRT interpreter for ``path``; :class:`LiteRTError` when LiteRT is missing or the file is unusable."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        raise LiteRTError("TFLite models need LiteRT: pip install 'segblur[bench]' (or make reference)") from None
    if not os.path.isfile(path):
        raise LiteRTError("no such file")
    try:
        return Interpreter(model_path=str(path), num_threads=threads)
    except (ValueError, RuntimeError) as e:
        raise LiteRTError(f"not a usable TFLite model ({' '.join(str(e).split())[:200]})") from None


class TFLiteModel:
    """A float32 image model with one 1 x H x W x 3 input; :meth:`run` returns the named outputs (batch 1 dropped)."""

    def __init__(self, path: str | os.PathLike[str], threads: int | None = None, interpreter: Any = None) -> None:
        self.path = str(path)
        self.interpreter = interpreter if interpreter is not None else load_interpreter(path, threads)
        self.interpreter.allocate_tensors()
        inp = self.interpreter.get_input_details()[0]
        if inp["dtype"] != np.float32 or len(inp["shape"]) != 4 or inp["shape"][3] != 3:
            raise LiteRTError(f"unexpected model input: shape {list(inp['shape'])}, dtype {inp['dtype']}")
        self.input_index = int(inp["index"])
        self.input_height = int(inp["shape"][1])
        self.input_width = int(inp["shape"][2])
        self.outputs = {d["name"]: int(d["index"]) for d in self.interpreter.get_output_details()}
        self.first_output = next(iter(self.outputs))

    def output(self, name: str) -> str:
        """``name`` checked against the model's outputs (LiteRTError listing them otherwise)."""
        if name not in self.outputs:
            raise LiteRTError(f"no output {name!r} (outputs: {', '.join(self.outputs)})")
        return name

    def run(self, x: np.ndarray, names: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
        """Run one H x W x 3 float32 input; the outputs ``names`` (default: the first) without the batch axis."""
        self.interpreter.set_tensor(self.input_index, np.ascontiguousarray(x, np.float32)[None])
        self.interpreter.invoke()
        return {n: self.interpreter.get_tensor(self.outputs[n])[0] for n in names or (self.first_output,)}
