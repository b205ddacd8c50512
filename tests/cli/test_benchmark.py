"""``segblur benchmark``: the stage table, --json, --stream and bad options."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import one_error_line, run_cli

from segblur.cli.main import main


def test_benchmark_prints_a_table(model_path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    js = tmp_path / "bench.json"
    code, out, err = run_cli(capsys, "benchmark", "--size", "64x48", "--repeats", "2", "--model", model_path,
                             "--effect", "blur", "--effect", "pixelate", "--json", js)
    assert code == 0, err
    assert "64x48" in out
    table = [ln for ln in out.splitlines() if ln.startswith("|")]
    assert table[0].startswith("| pipeline |") and "total ms" in table[0]
    assert len(table) == 4  # header, rule, one row per effect
    assert "blur" in table[2] and "pixelate" in table[3]
    data = json.loads(js.read_text())
    assert data["size"] == [64, 48] and data["repeats"] == 2 and len(data["results"]) == 2


@pytest.mark.parametrize("size", ["64", "axb", "8x8", "99999x99999"])
def test_benchmark_bad_size_exits_2(capsys: pytest.CaptureFixture[str], model_path: Path, size: str) -> None:
    code, _, err = run_cli(capsys, "benchmark", "--size", size, "--repeats", "1", "--model", model_path)
    assert code == 2 and size in one_error_line(err)


def test_cli_benchmark_image_effect_and_bad_json(tmp_path: Path, model_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--size", "64x48", "--repeats", "1", "--effect", "image",
                 "--model", str(model_path)]) == 0
    assert main(["benchmark", "--size", "64x48", "--repeats", "1", "--json", str(tmp_path),
                 "--model", str(model_path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_benchmark_command_with_stream(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    code = main(["benchmark", "--size", "64x48", "--repeats", "2", "--model", str(model_path), "--stream",
                 "--stream-seconds", "0.1", "--file-frames", "2", "--json", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "threaded stream" in text and "as fast as it goes" in text and "temporal smoothing off" in text
    data = json.loads(out.read_text())
    runs = data["stream"]["stream"]
    assert [r["source_fps"] for r in runs] == [30.0, 1000.0, 30.0]  # the last one with the governor
    assert "camera 30 fps, governor" in text and all(r["cpu_percent"] > 0 for r in runs)
    assert all(r["captured"] == r["shown"] + r["dropped"] for r in runs)
    assert data["stream"]["file"]["frames"] == 2 and data["stream"]["file"]["size"] == [1920, 1080]
    assert set(data["stream"]["flicker"]) >= {"on", "off"}


def test_benchmark_stream_seconds_must_be_positive(model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["benchmark", "--size", "64x48", "--repeats", "1", "--model", str(model_path), "--stream",
                 "--stream-seconds", "0"])
    assert code == 2 and "--stream-seconds" in capsys.readouterr().err


def test_benchmark_says_what_it_is_measuring(capsys: pytest.CaptureFixture[str], model_path: Path) -> None:
    code, _, err = run_cli(capsys, "benchmark", "--size", "64x48", "--repeats", "2", "--model", model_path)
    assert code == 0
    assert err.splitlines() == ["segblur: timing segblur tiny blur: 2 runs of 64x48"]
    code, _, err = run_cli(capsys, "benchmark", "--size", "64x48", "--repeats", "2", "--model", model_path, "-q")
    assert code == 0 and err == ""


def test_benchmark_json_never_replaces_the_model(tmp_path: Path, model_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(model_path.read_bytes())
    code, _, err = run_cli(capsys, "benchmark", "--size", "64x48", "--repeats", "1", "--model", model,
                           "--json", model)
    assert code == 2 and "is the input" in one_error_line(err) and model.read_bytes() == model_path.read_bytes()


def test_benchmark_json_folder_or_under_a_file_is_refused_before_timing(
        tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--json that cannot be written is said up front (no "timing" line first), naming the file."""
    (tmp_path / "afile").write_text("x")
    for js, words in [(tmp_path, "is a folder"), (tmp_path / "afile" / "b.json", "afile is a file, not a folder")]:
        code, out, err = run_cli(capsys, "benchmark", "--size", "64x48", "--repeats", "1", "--model", model_path,
                                 "--json", js)
        line = one_error_line(err)
        assert code == 2 and line.startswith(f"segblur: error: {js}: ") and words in line, line
        assert out == "" and err.count("\n") == 1, err  # nothing was timed


def test_benchmark_json_dash_is_standard_output(model_path: Path, capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """--json - writes the JSON alone on standard output (for jq), the tables on standard error, no file '-'."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(capsys, "benchmark", "--size", "64x48", "--repeats", "1", "--model", model_path,
                             "--json", "-", "-q")
    assert code == 0, err
    assert json.loads(out)["size"] == [64, 48] and "| pipeline |" in err
    assert not (tmp_path / "-").exists()
