"""The video quality benchmark: the moving-average reference as a frame processor, scored like segblur."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import make_sequence_folder

from segblur import Pipeline
from segblur.bench.sequence import TABLE_HEAD, MovingAverageReference, compare_on_sequence
from segblur.eval.sequence import open_sequence


class Constant:
    """A stand-in segmenter: probability ``values[i]`` everywhere on its i-th call."""

    def __init__(self, values: list[float]) -> None:
        self.values, self.calls = values, 0

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        v = self.values[self.calls % len(self.values)]
        self.calls += 1
        return np.full(rgb.shape[:2], v, np.float32)


def test_the_reference_averages_like_accumulate_weighted() -> None:
    ref = MovingAverageReference(Constant([1.0, 0.0, 0.0]), weight=0.5)
    frame = np.zeros((4, 6, 3), np.uint8)
    seen = []
    for _ in range(3):
        assert ref.push(frame) is frame
        seen.append(float(ref.last_alpha.mean()))
    assert seen == pytest.approx([1.0, 0.5, 0.25]) and list(ref.drain()) == []
    ref.reset()
    ref.process(frame)
    assert float(ref.last_alpha.mean()) == 1.0  # afresh
    with pytest.raises(ValueError):
        MovingAverageReference(Constant([0.0]), weight=0.0)


def test_compare_scores_every_processor_on_the_same_frames(tmp_path: Path, model_path: Path) -> None:
    source = open_sequence(make_sequence_folder(tmp_path / "seq", 6))
    lines = []
    results = compare_on_sequence({"segblur": lambda: Pipeline(model_path, temporal=True),
                                   "flat": lambda: MovingAverageReference(Constant([0.0]))}, source, "frame",
                                  log=lines.append)
    assert results["segblur"]["iou"] > 0.8 and results["flat"]["iou"] == 0.0
    assert all(r["frames"] == 6 and "per_frame_iou" not in r and r["cpu_seconds"] >= 0 for r in results.values())
    assert len(lines) == 2 and lines[0].startswith("| segblur |")
    assert all(TABLE_HEAD.splitlines()[k].count("|") == lines[0].count("|") for k in (0, 1))  # as many columns
