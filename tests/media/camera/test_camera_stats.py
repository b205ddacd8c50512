"""media.camera.stats: live medians and final figures of a stream."""

from __future__ import annotations

import numpy as np

from segblur.media.camera import StreamStats
from segblur.media.camera.stats import LIVE


def test_stats_status_line_and_empty_percentiles() -> None:
    s = StreamStats()
    assert np.isnan(s.percentile("latency", 50)) and s.fps() == 0.0
    assert "fps" in s.status_line()
    assert s.stage_line() == "" and s.live_stages() == {}


def test_live_figures_are_medians_over_the_recent_frames() -> None:
    s = StreamStats()
    for i in range(100):
        old = i < 100 - LIVE  # the first 70 frames were slow: they no longer count
        for name, ms in (("segment", 10.0), ("refine", 2.0), ("effect", 3.0), ("compose", 1.0), ("wait", 5.0)):
            s.add(name, ms * (50 if old else 1) + i % 3)
        s.add("latency", 400.0 if old else 40.0 + i % 5)
    assert s.live_stages() == {"segment": 11.0, "refine": 3.0, "effect": 4.0, "compose": 2.0, "latency": 42.0}
    assert s.stage_line() == "median ms: segment 11.0  refine 3.0  effect 4.0  compose 2.0  end-to-end 42"
    assert "latency 42 ms" in s.status_line()
