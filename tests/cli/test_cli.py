"""The ``segblur`` command, run in-process (plus one real subprocess for the console entry point)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import BLUE, GREEN, RED, split_image

from segblur.cli.main import build_parser, main
from segblur.media.images import read_image
from segblur.names import DEFAULT_MODEL


def save(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink())


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --- image ---------------------------------------------------------------------------------------------

def test_image_one_file_writes_that_file_same_size(tmp_path: Path, model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = save(tmp_path / "in.png", split_image(30, 44))
    dst = tmp_path / "result.jpg"
    code, _, err = run(capsys, "image", src, "-o", dst, "--model", model_path)
    assert code == 0, err
    out = read_image(dst)
    assert out.shape == (30, 44, 3)
    assert files_in(tmp_path) == ["in.png", "result.jpg"]


def test_image_folder_is_mirrored(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    save(src / "a.png", split_image(20, 30))
    save(src / "sub" / "b.jpg", split_image(26, 18))
    save(src / "sub" / "deep" / "c.png", split_image(16, 16))
    (src / "readme.txt").write_text("not an image")
    code, _, err = run(capsys, "image", src, "-o", tmp_path / "out", "--model", model_path, "-q")
    assert code == 0, err
    assert files_in(tmp_path / "out") == ["a.png", "sub/b.jpg", "sub/deep/c.png"]
    assert read_image(tmp_path / "out" / "sub" / "b.jpg").shape == (26, 18, 3)
    assert read_image(tmp_path / "out" / "sub" / "deep" / "c.png").shape == (16, 16, 3)


def test_image_mixed_good_and_bad_inputs(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good1 = save(tmp_path / "good1.png", split_image(20, 30))
    good2 = save(tmp_path / "good2.jpg", split_image(24, 24))
    jpg = good2.read_bytes()
    bad = {
        "missing": tmp_path / "missing.jpg",
        "empty": tmp_path / "empty.jpg",
        "truncated": tmp_path / "truncated.jpg",
        "text": tmp_path / "text.jpg",
    }
    bad["empty"].write_bytes(b"")
    bad["truncated"].write_bytes(jpg[: len(jpg) // 2])
    bad["text"].write_text("just some text\n")
    out = tmp_path / "out"
    args = [good1, bad["missing"], bad["empty"], bad["truncated"], good2, bad["text"]]
    code, _, err = run(capsys, "image", *args, "-o", out, "--model", model_path)
    assert code == 1
    assert "Traceback" not in err
    lines = err.splitlines()
    for path in bad.values():
        naming = [ln for ln in lines if str(path) in ln]
        assert len(naming) == 1, (path, err)
    assert not any(str(good1) in ln or str(good2) in ln for ln in lines)
    # Only the good ones were written; nothing temporary or partial is left behind.
    assert files_in(out) == ["good1.png", "good2.jpg"]
    assert read_image(out / "good1.png").shape == (20, 30, 3)
    assert read_image(out / "good2.jpg").shape == (24, 24, 3)


def test_image_quiet_prints_nothing_on_success(tmp_path: Path, model_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    src = save(tmp_path / "in.png", split_image(16, 16))
    code, out, err = run(capsys, "image", src, "-o", tmp_path / "o.png", "--model", model_path, "-q")
    assert (code, out, err) == (0, "", "")


def test_image_never_overwrites_its_input(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = save(tmp_path / "in.png", split_image(16, 16))
    before = src.read_bytes()
    code, _, err = run(capsys, "image", src, "-o", src, "--model", model_path)
    assert code == 1
    assert str(src) in err
    assert src.read_bytes() == before


@pytest.mark.parametrize("model", ["no-such-model", "missing.onnx", "text.onnx", "empty.onnx"])
def test_invalid_model_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str) -> None:
    src = save(tmp_path / "in.png", split_image(16, 16))
    (tmp_path / "text.onnx").write_text("hello")
    (tmp_path / "empty.onnx").write_bytes(b"")
    m = model if model == "no-such-model" else str(tmp_path / model)
    code, _, err = run(capsys, "image", src, "-o", tmp_path / "out.png", "--model", m)
    assert code == 2
    line = one_error_line(err)
    assert m in line and line.startswith("segblur: error:")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("opts", [["--strength", "5"], ["--strength", "-1"], ["--effect", "color", "--color", "junk"],
                                  ["--threshold", "2"], ["--effect", "blur", "--background", "in.png"],
                                  ["--effect", "image", "--background", "missing.png"],
                                  ["--provider", "NoSuchExecutionProvider"]])
def test_bad_options_exit_2_with_one_line(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str],
                                          opts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    save(tmp_path / "in.png", split_image(16, 16))
    code, _, err = run(capsys, "image", "in.png", "-o", "out.png", "--model", model_path, *opts)
    assert code == 2
    one_error_line(err)
    assert not (tmp_path / "out.png").exists()


def test_unknown_effect_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["image", "x.png", "-o", str(tmp_path / "o.png"), "--effect", "sparkle"])
    assert ei.value.code == 2
    assert "sparkle" in capsys.readouterr().err


def test_effect_color(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = save(tmp_path / "in.png", split_image(24, 40))  # red person left, green background right
    code, _, err = run(capsys, "image", src, "-o", tmp_path / "o.png", "--model", model_path,
                       "--effect", "color", "--color", "#ff0000", "-q")
    assert code == 0, err
    out = read_image(tmp_path / "o.png")
    assert np.all(out[:, 28:] == RED)
    code, _, _ = run(capsys, "image", src, "-o", tmp_path / "o2.png", "--model", model_path,
                     "--effect", "color", "--color", "0,0,255", "--invert", "-q")
    out = read_image(tmp_path / "o2.png")
    assert np.all(out[:, :12] == BLUE) and np.all(out[:, 28:] == GREEN)


def test_background_image(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = save(tmp_path / "in.png", split_image(24, 40))
    bg = save(tmp_path / "bg.png", np.full((10, 12, 3), BLUE, np.uint8))
    code, _, err = run(capsys, "image", src, "-o", tmp_path / "o.png", "--model", model_path,
                       "--background", bg, "--strength", "0", "-q")  # --background implies --effect image
    assert code == 0, err
    out = read_image(tmp_path / "o.png")
    assert np.all(out[:, :12] == RED) and np.all(out[:, 28:] == BLUE)


def test_keep_option(tmp_path: Path, model3_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = np.zeros((20, 60, 3), np.uint8)
    img[:, :20], img[:, 20:40], img[:, 40:] = RED, GREEN, BLUE
    src = save(tmp_path / "in.png", img)
    code, _, err = run(capsys, "image", src, "-o", tmp_path / "o.png", "--model", model3_path,
                       "--effect", "color", "--color", "black", "--keep", "person,car", "-q")
    assert code == 0, err
    out = read_image(tmp_path / "o.png")
    assert np.all(out[:, :16] == RED) and np.all(out[:, 44:] == BLUE) and np.all(out[:, 24:36] == 0)
    code, _, err = run(capsys, "image", src, "-o", tmp_path / "o2.png", "--model", model3_path, "--keep", "dog")
    assert code == 2 and "dog" in one_error_line(err)


# --- mask ----------------------------------------------------------------------------------------------

def test_mask_writes_binary_png_per_input(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = save(tmp_path / "in" / "a.jpg", split_image(30, 44))
    b = save(tmp_path / "in" / "b.png", split_image(21, 17, left=GREEN, right=RED))
    out = tmp_path / "masks"
    code, _, err = run(capsys, "mask", a, b, "-o", out, "--model", model_path, "-q")
    assert code == 0, err
    assert files_in(out) == ["a.png", "b.png"]
    ma = cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED)
    assert ma.shape == (30, 44) and ma.dtype == np.uint8
    assert set(np.unique(ma)) <= {0, 255}
    assert np.all(ma[:, :18] == 255) and np.all(ma[:, 26:] == 0)
    mb = cv2.imread(str(out / "b.png"), cv2.IMREAD_UNCHANGED)
    assert mb.shape == (21, 17) and np.all(mb[:, -4:] == 255) and np.all(mb[:, :4] == 0)


def test_mask_single_file_goes_into_the_folder(tmp_path: Path, model_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    a = save(tmp_path / "photo.jpg", split_image(20, 20))
    code, _, _ = run(capsys, "mask", a, "-o", tmp_path / "m", "--model", model_path, "-q")
    assert code == 0
    assert files_in(tmp_path / "m") == ["photo.png"]


def test_mask_soft_writes_intermediate_values(tmp_path: Path, model_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    # A smooth red -> green gradient: the probability ramps, so a soft mask has grey levels.
    t = np.linspace(0, 1, 64)[None, :]
    img = np.zeros((32, 64, 3), np.uint8)
    img[..., 0] = np.round(255 * (1 - t))
    img[..., 1] = np.round(255 * t)
    src = save(tmp_path / "grad.png", img)
    code, _, _ = run(capsys, "mask", src, "-o", tmp_path / "hard", "--model", model_path, "-q")
    assert code == 0
    hard = cv2.imread(str(tmp_path / "hard" / "grad.png"), cv2.IMREAD_UNCHANGED)
    assert set(np.unique(hard)) <= {0, 255}
    code, _, _ = run(capsys, "mask", src, "-o", tmp_path / "soft", "--model", model_path, "--soft", "-q")
    assert code == 0
    soft = cv2.imread(str(tmp_path / "soft" / "grad.png"), cv2.IMREAD_UNCHANGED)
    assert soft.shape == (32, 64)
    assert len(set(np.unique(soft)) - {0, 255}) >= 5
    assert soft[:, 0].min() > 200 and soft[:, -1].max() < 55


def test_mask_output_must_be_a_folder(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = save(tmp_path / "a.png", split_image(16, 16))
    taken = tmp_path / "taken.png"
    taken.write_bytes(b"x")
    code, _, err = run(capsys, "mask", src, "-o", taken, "--model", model_path)
    assert code == 2
    assert str(taken) in one_error_line(err)
    assert taken.read_bytes() == b"x"


def test_mask_reports_bad_inputs(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = save(tmp_path / "a.png", split_image(16, 16))
    bad = tmp_path / "b.png"
    bad.write_text("nope")
    code, _, err = run(capsys, "mask", good, bad, "-o", tmp_path / "m", "--model", model_path, "-q")
    assert code == 1
    assert str(bad) in one_error_line(err)
    assert files_in(tmp_path / "m") == ["a.png"]


# --- models / benchmark / misc ---------------------------------------------------------------------------

def test_models_lists_the_builtin_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", "--brief")
    assert code == 0
    assert any(line.startswith(f"{DEFAULT_MODEL}:") and "person" in line for line in out.splitlines())


def test_models_with_a_name(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "models", DEFAULT_MODEL, "--brief")
    assert code == 0 and out.startswith(f"{DEFAULT_MODEL}:")
    code, _, err = run(capsys, "models", "nope")
    assert code == 2 and "nope" in one_error_line(err)


def test_benchmark_prints_a_table(model_path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    js = tmp_path / "bench.json"
    code, out, err = run(capsys, "benchmark", "--size", "64x48", "--repeats", "2", "--model", model_path,
                         "--effect", "blur", "--effect", "pixelate", "--json", js)
    assert code == 0, err
    assert "64x48" in out
    table = [ln for ln in out.splitlines() if ln.startswith("|")]
    assert table[0].startswith("| pipeline |") and "total ms" in table[0]
    assert len(table) == 4  # header, rule, one row per effect
    assert "blur" in table[2] and "pixelate" in table[3]
    import json

    data = json.loads(js.read_text())
    assert data["size"] == [64, 48] and data["repeats"] == 2 and len(data["results"]) == 2


@pytest.mark.parametrize("size", ["64", "axb", "8x8"])
def test_benchmark_bad_size_exits_2(capsys: pytest.CaptureFixture[str], model_path: Path, size: str) -> None:
    code, _, err = run(capsys, "benchmark", "--size", size, "--repeats", "1", "--model", model_path)
    assert code == 2 and size in one_error_line(err)


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main([])
    assert ei.value.code == 2


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    import segblur

    with pytest.raises(SystemExit) as ei:
        main(["--version"])
    assert ei.value.code == 0
    assert segblur.__version__ in capsys.readouterr().out


def test_parser_knows_every_effect() -> None:
    from segblur import list_effects

    ns = build_parser().parse_args(["image", "a.png", "-o", "b", "--effect", list_effects()[-1]])
    assert ns.effect == list_effects()[-1]


def test_console_entry_point_runs(tmp_path: Path, model_path: Path) -> None:
    exe = shutil.which("segblur", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-m", "segblur"]
    src = save(tmp_path / "in.png", split_image(20, 24))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([*cmd, "image", str(src), "-o", str(tmp_path / "o.png"), "--model", str(model_path),
                        "--threads", "1"], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert read_image(tmp_path / "o.png").shape == (20, 24, 3)
