"""segblur video's defaults on a real clip with ground truth (davis-dance-twirl, skipped where it is absent).

Floors a little under what the shipped model measured (BENCHMARKS.md: IoU 0.686, temporal error 25.8 with the
defaults; 0.563 and 39.2 frame by frame), so a regression of the smoothing or the subject focus fails loudly.
"""

from __future__ import annotations

import pytest
from conftest import SHARED_DATA

from segblur import Pipeline, Segmenter
from segblur.eval.sequence import evaluate_sequence, open_sequence
from segblur.runtime.subject import SubjectConfig
from segblur.runtime.temporal import TemporalConfig

DAVIS = SHARED_DATA / "davis-dance-twirl"
pytestmark = [pytest.mark.integration, pytest.mark.skipif(not DAVIS.is_dir(), reason=f"{DAVIS} not available")]


def test_video_defaults_beat_frame_by_frame_on_accuracy_and_stability() -> None:
    source = open_sequence(DAVIS)
    seg = Segmenter("default")
    defaults = evaluate_sequence(Pipeline(seg, temporal=TemporalConfig(), subject=SubjectConfig(follow=True)),
                                 source, "subject", flicker=False)
    plain = evaluate_sequence(Pipeline(seg), source, "subject", flicker=False)
    assert defaults["frames"] == plain["frames"] == 90
    assert defaults["iou"] >= 0.66 and defaults["temporal_error"] <= 27.5, defaults
    assert defaults["iou"] > plain["iou"] + 0.05 and defaults["temporal_error"] < plain["temporal_error"] - 5
