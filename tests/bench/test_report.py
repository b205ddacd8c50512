"""bench/report.py: the whole benchmark run as a report (tiny model, tiny frames) and the text it prints."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest

from segblur.bench.report import REFERENCE, BenchmarkError, format_report, measure_streams, run_benchmark
from segblur.bench.run import make_frame
from segblur.runtime.pipeline import Pipeline


def test_run_benchmark_times_each_effect(model_path: Path) -> None:
    made: list[dict] = []

    def make(**options) -> Pipeline:
        made.append(options)
        return Pipeline(model_path, threads=1, **options)

    r = run_benchmark(make, (64, 48), effects=["blur", "image"], repeats=2)
    assert set(r) == {"size", "repeats", "machine", "results", "stream"} and r["stream"] is None
    assert list(r["results"]) == ["segblur tiny blur", "segblur tiny image"]
    assert all(t["total"] > 0 and "segment" in t and t["cpu"] > 0 for t in r["results"].values())
    assert made[0] == {"effect": "blur", "background": None}
    assert made[1]["effect"] == "image" and made[1]["background"].shape == (48, 64, 3)  # the mirrored frame


def test_run_benchmark_refuses_a_bad_photo_and_a_bad_reference(model_path: Path, tmp_path: Path) -> None:
    make = partial(Pipeline, model_path, threads=1)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a photo")
    with pytest.raises(BenchmarkError, match="bad.jpg"):
        run_benchmark(make, (64, 48), image=bad, repeats=1)
    with pytest.raises(BenchmarkError, match="missing.tflite"):
        run_benchmark(make, (64, 48), repeats=1, reference=tmp_path / "missing.tflite")
    # Said before segblur is timed (a 100-run benchmark took a minute to get there).
    timed: list[str] = []
    with pytest.raises(BenchmarkError, match="missing.tflite"):
        run_benchmark(lambda **kw: timed.append("pipeline") or make(**kw), (64, 48), repeats=1,
                      reference=tmp_path / "missing.tflite", notify=timed.append)
    assert timed == []


def test_format_report_has_the_header_the_table_the_speedup_and_the_streams() -> None:
    machine = {"cpu": "Test CPU", "cores": 4}
    results = {"segblur tiny blur": {"segment": 2.0, "total": 5.0, "cpu": 4.5},
               REFERENCE: {"segment": 8.0, "total": 10.0, "cpu": 15.0}}
    text = format_report({"size": (64, 48), "repeats": 3, "machine": machine, "results": results, "stream": None})
    lines = text.splitlines()
    assert lines[0] == "64x48 frame, median of 3 runs; Test CPU, 4 cores"
    assert lines[1].startswith("| pipeline | CPU ms/frame | % of a core at 30 fps | segment |")
    assert "| segblur tiny blur | 4.50 | 14 | 2.00 | 5.00 | 200 |" in text  # CPU first: 4.5 ms x 30 fps = 14 %
    assert lines[-1] == "segblur tiny blur: 0.50x the reference's time per frame (2.00x its speed), 0.30x its CPU time"
    run = {"name": "camera 30 fps", "source_fps": 30, "seconds": 0.5, "fps": 29.5, "captured": 15, "dropped": 0,
           "latency_median_ms": 40.0, "latency_p95_ms": 55.5}
    stream = {"model": "tiny", "effect": "blur", "stream": [run], "flicker": None, "file": None}
    text = format_report({"size": (64, 48), "repeats": 3, "machine": machine, "results": {}, "stream": stream})
    assert "\n\nstreams (tiny, blur, temporal smoothing on unless noted; 64x48 source, 0.5 s per run)\n" in text
    assert "| camera 30 fps |  |  | 30 | 29.5 |" in text and "skipped" in text


def test_measure_streams_runs_every_measurement(model_path: Path) -> None:
    frame = make_frame((64, 48))
    r = measure_streams(partial(Pipeline, model_path, threads=1), frame, "image", seconds=0.05, file_frames=0)
    assert r["model"] == "tiny" and r["effect"] == "image" and r["file"] is None
    assert [s["source_fps"] for s in r["stream"]] == [30.0, 1000.0, 30.0]
    assert r["stream"][2]["name"] == "camera 30 fps, governor" and "model on" in r["stream"][2]["governor"]
    assert set(r["flicker"]) >= {"on", "off"}
    with pytest.raises(ValueError, match="positive"):
        measure_streams(partial(Pipeline, model_path), frame, seconds=0)
