"""The stream benchmarks (bench/stream.py), on tiny frames and a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from segblur.bench.stream import (
    format_stream_table,
    measure_file_throughput,
    measure_flicker,
    measure_stream,
)
from segblur.runtime.pipeline import Pipeline


def gradient(h: int = 48, w: int = 64) -> np.ndarray:
    """Red-ish on the left to green-ish on the right around grey: the tiny model's probability crosses 0.5 slowly."""
    d = np.linspace(-24, 24, w)[None, :].repeat(h, 0)
    img = np.empty((h, w, 3), np.uint8)
    img[..., 0] = np.round(128 - d)
    img[..., 1] = np.round(128 + d)
    img[..., 2] = 128
    return img


def test_stream_measurement_counts_and_latency(model_path: Path) -> None:
    pipe = Pipeline(model_path, temporal=True)
    r = measure_stream(pipe, gradient(), fps=200, seconds=0.1, warmup=1)
    assert r["source_fps"] == 200 and r["shown"] >= 1
    assert r["captured"] == r["shown"] + r["dropped"]
    assert r["latency_p95_ms"] >= r["latency_median_ms"] > 0
    assert {"wait", "segment", "output"} <= set(r["stages_median_ms"])


def test_flicker_is_lower_with_temporal_smoothing(model_path: Path) -> None:
    pipe = Pipeline(model_path)  # off: the measurement switches it and restores the setting
    r = measure_flicker(pipe, gradient(), frames=12, sigma=3.0, settle=3)
    assert r["off"]["mean_abs_change"] > 0
    assert r["on"]["mean_abs_change"] < 0.7 * r["off"]["mean_abs_change"]
    assert all(0 <= r[k]["flipped_pct"] <= 100 for k in ("on", "off"))
    assert pipe.temporal is None
    with pytest.raises(ValueError):
        measure_flicker(pipe, gradient(), frames=3, settle=5)


def test_file_throughput_on_a_small_clip(model_path: Path) -> None:
    pipe = Pipeline(model_path, temporal=True)
    r = measure_file_throughput(pipe, gradient(32, 48), frames=3)
    assert r is not None and r["frames"] == 3 and r["size"] == [48, 32] and r["fps"] > 0


def test_stream_table_has_every_section() -> None:
    run = {"name": "camera 30 fps", "source_fps": 30, "fps": 29.5, "captured": 300, "dropped": 4,
           "latency_median_ms": 40.0, "latency_p95_ms": 55.5, "cpu_percent": 42.4, "cpu_ms_per_frame": 14.1}
    flicker = {"sigma": 2.5, "off": {"mean_abs_change": 0.5, "flipped_pct": 0.01},
               "on": {"mean_abs_change": 0.2, "flipped_pct": 0.002}}
    text = format_stream_table({"stream": [run], "flicker": flicker,
                                "file": {"size": [1920, 1080], "frames": 60, "seconds": 6.0, "fps": 10.0,
                                         "cpu_ms_per_frame": 61.0}})
    assert "| camera 30 fps | 42 | 14.1 | 30 | 29.5 | 300 | 4 | 40.0 | 55.5 |" in text  # CPU share first
    governed = {**run, "name": "governed", "governor": "model on 3 of 30 frames"}
    assert "\ngoverned: model on 3 of 30 frames\n" in format_stream_table({"stream": [run, governed]}) + "\n"
    assert "| temporal smoothing on | 0.200 |" in text and "| 1920x1080 H.264 | 61.0 | 60 | 6.00 | 10.0 |" in text
    assert "skipped" in format_stream_table({"stream": [run], "flicker": flicker, "file": None})


class HalfMask:
    """Stands in for the LiteRT selfie model: the left half is the person."""

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        m = np.zeros(rgb.shape[:2], np.float32)
        m[:, : rgb.shape[1] // 2] = 1.0
        return m


def test_the_reference_streams_through_the_same_loop_with_its_cpu_share() -> None:
    from segblur.bench.reference import ReferencePipeline
    from segblur.media.protocols import FrameProcessor

    ref = ReferencePipeline(HalfMask())
    assert isinstance(ref, FrameProcessor)
    frame = gradient()
    out = ref.process(frame)
    np.testing.assert_array_equal(out[:, :32], frame[:, :32])  # the person is left as it is
    assert set(ref.last_timings) == {"segment", "compose", "total"}
    r = measure_stream(ref, frame, fps=200.0, seconds=0.1)
    assert r["shown"] > 0 and r["cpu_percent"] > 0 and r["cpu_ms_per_frame"] > 0


@pytest.mark.parametrize("signal_name", [None, "SIGTERM", "SIGHUP"])
def test_a_stop_the_stream_loop_caught_is_raised_again(signal_name: str | None,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """run_stream ends an interrupted stream cleanly ("interrupted"); measure_stream must not carry on as if the
    run were done (the benchmark then printed its tables and exited 0): it raises what stopped it."""
    import signal
    from types import SimpleNamespace

    from segblur import interrupts
    from segblur.bench import stream

    class Quiet:
        def process(self, frame: np.ndarray) -> np.ndarray:
            return frame

    received = [getattr(signal, signal_name)] if signal_name else []
    monkeypatch.setattr(interrupts, "_received", received)
    monkeypatch.setattr(stream, "run_stream", lambda *a, **k: SimpleNamespace(ended="interrupted"))
    with pytest.raises(KeyboardInterrupt) as e:
        stream.measure_stream(Quiet(), gradient(), seconds=0.1, warmup=0)
    assert interrupts.interrupted_status(e.value) == 128 + (received[0] if received else signal.SIGINT)
    monkeypatch.setattr(stream, "run_stream", lambda *a, **k: SimpleNamespace(ended="quit", summary=dict))
    assert stream.measure_stream(Quiet(), gradient(), seconds=0.1, warmup=0)["source_fps"] == 30.0
