"""``segblur label``, run in-process with a tiny ONNX teacher (red is person)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import GREEN, RED

from segblur.cli.main import main
from segblur.data import read_png_indices


def photo(path: Path, person: tuple[int, int, int, int] = (20, 30, 50, 110)) -> Path:
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = GREEN
    x0, y0, x1, y1 = person
    img[y0:y1, x0:x1] = RED
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str]:
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err


def error_lines(err: str) -> list[str]:
    assert "Traceback" not in err
    return [ln for ln in err.splitlines() if ln.startswith("segblur:") and "masks in" not in ln]


def test_label_a_folder_with_boxes(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    photo(tmp_path / "img" / "a.png")
    photo(tmp_path / "img" / "b.png", (100, 20, 130, 100))
    (tmp_path / "boxes").mkdir()
    (tmp_path / "boxes" / "a.txt").write_text("20 30 50 110\n")
    (tmp_path / "boxes" / "b.txt").write_text("100 20 130 100\n")
    out = tmp_path / "out"
    code, err = run(capsys, "label", tmp_path / "img", "-o", out, "--boxes", tmp_path / "boxes",
                    "--teacher", f"onnx={model_path}", "--margin", "0.2", "-q")
    assert code == 0 and not error_lines(err)
    mask = read_png_indices(out / "masks" / "b.png")
    assert (mask[25:95, 105:125] == 1).all() and (mask[:, :60] == 0).all()
    doc = json.loads((out / "labels.json").read_text())
    assert doc["settings"]["margin"] == 0.2 and sorted(doc["images"]) == ["a", "b"]
    assert doc["teachers"][0]["kind"] == "onnx"


def test_existing_labels_need_overwrite_or_skip(tmp_path: Path, model_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    img = photo(tmp_path / "a.png")
    args = ["label", img, "-o", tmp_path / "out", "--teacher", str(model_path), "-q"]
    assert run(capsys, *args)[0] == 0
    code, err = run(capsys, *args)
    assert code == 2
    (line,) = error_lines(err)
    assert str(tmp_path / "out") in line and "--overwrite" in line and "--skip-existing" in line
    assert run(capsys, *args, "--skip-existing")[0] == 0
    assert run(capsys, *args, "--overwrite")[0] == 0
    with pytest.raises(SystemExit) as e:  # argparse: not both
        main([str(a) for a in args] + ["--overwrite", "--skip-existing"])
    assert e.value.code == 2


def test_bad_inputs_one_line_each_and_status_1(tmp_path: Path, model_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    good = photo(tmp_path / "img" / "good.png")
    bad = tmp_path / "img" / "bad.png"
    bad.write_bytes(b"junk")
    (tmp_path / "boxes").mkdir()
    (tmp_path / "boxes" / "good.txt").write_text("20 30 50 110\n")
    (tmp_path / "boxes" / "bad.txt").write_text("20 30 50 110\n")
    code, err = run(capsys, "label", good, bad, tmp_path / "none.png", "-o", tmp_path / "out",
                    "--boxes", tmp_path / "boxes", "--teacher", str(model_path), "-q")
    assert code == 1
    lines = error_lines(err)
    assert len(lines) == 2 and str(bad) in lines[1] and str(tmp_path / "none.png") in lines[0]
    assert (tmp_path / "out" / "masks" / "good.png").is_file()


@pytest.mark.parametrize("extra", [["--teacher", "face=x.tflite"], ["--teacher", "onnx=/no/model.onnx"],
                                   ["--low", "0.9", "--high", "0.1"]])
def test_fatal_problems_are_one_error_line(tmp_path: Path, model_path: Path, extra: list[str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    img = photo(tmp_path / "a.png")
    code, err = run(capsys, "label", img, "-o", tmp_path / "out", *(extra if "--teacher" in extra
                                                                    else [*extra, "--teacher", str(model_path)]))
    assert code == 2
    (line,) = error_lines(err)
    assert line.startswith("segblur: error: ")


def test_default_teachers_missing_says_how_to_fetch_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    img = photo(tmp_path / "a.png")
    code, err = run(capsys, "label", img, "-o", tmp_path / "out")
    assert code == 2
    (line,) = error_lines(err)
    assert "fetch_teachers.py" in line and not (tmp_path / "out").exists()
    # the default folder is relative to the working folder: the message says where it looked, and the way out
    assert str(tmp_path / ".cache" / "teachers" / "pose_landmark_heavy.tflite") in line and "--teacher" in line


def test_help_gives_the_label_settings_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    """--low, --high and --min-box say their defaults, written out in the parser: they must be LabelSettings'."""
    from segblur.training.label import LabelSettings

    with pytest.raises(SystemExit):
        main(["label", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    s = LabelSettings()
    for option, value in (("below: background", s.low), ("above: person", s.high), ("to label: ignore", s.min_box)):
        assert f"{option} (default {value:g})" in text, option


@pytest.mark.parametrize("where", [".", "out", "sub/out"])
def test_output_inside_an_images_folder_is_refused(tmp_path: Path, model_path: Path, where: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """OUT in an IMAGES folder: a later run of that folder would read OUT's masks as photos."""
    photo(tmp_path / "img" / "a.png")
    photo(tmp_path / "img" / "sub" / "b.png")
    out = tmp_path / "img" / where
    code, err = run(capsys, "label", tmp_path / "img", "-o", out, "--teacher", model_path, "-q")
    assert code == 2
    (line,) = error_lines(err)
    assert str(tmp_path / "img") in line and not (tmp_path / "img" / "masks").exists()
    assert not (tmp_path / "img" / "out").exists() and not (tmp_path / "img" / "sub" / "out").exists()


def test_duplicate_ids_are_reported_and_make_the_exit_status_1(tmp_path: Path, model_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    photo(tmp_path / "dup" / "x" / "a.png")
    photo(tmp_path / "dup" / "y" / "a.jpg")
    code, err = run(capsys, "label", tmp_path / "dup", "-o", tmp_path / "out", "--teacher", model_path)
    assert code == 1
    (line,) = error_lines(err)
    assert "id 'a' is also" in line and "1 failed" in err
    assert json.loads((tmp_path / "out" / "labels.json").read_text())["summary"]["failed"] == 1


def test_a_box_where_the_teacher_finds_nobody_is_ignore(tmp_path: Path, model_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """The tiny teacher sees no red: nobody. The box says a person is there, so it is 255, not background."""
    photo(tmp_path / "img" / "a.png", (0, 0, 0, 0))
    (tmp_path / "boxes").mkdir()
    (tmp_path / "boxes" / "a.txt").write_text("100 20 130 100\n")
    code, err = run(capsys, "label", tmp_path / "img", "-o", tmp_path / "out", "--boxes", tmp_path / "boxes",
                    "--teacher", f"onnx={model_path}", "-q")
    assert code == 0 and not error_lines(err)
    mask = read_png_indices(tmp_path / "out" / "masks" / "a.png")
    assert (mask[20:100, 100:130] == 255).all() and (mask[:, :90] == 0).all()
    assert json.loads((tmp_path / "out" / "labels.json").read_text())["images"]["a"]["boxes"][0]["nobody"]


def test_overwrite_with_other_settings_leaves_no_mask_of_the_old_ones(tmp_path: Path, model_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """The QA case: relabelling a.png with --low 0.1 --overwrite left b and c from the old settings in OUT."""
    for name in ("a", "b", "c"):
        photo(tmp_path / "img" / f"{name}.png")
    out = tmp_path / "out"
    assert run(capsys, "label", tmp_path / "img", "-o", out, "--teacher", model_path, "-q")[0] == 0
    code, err = run(capsys, "label", tmp_path / "img" / "a.png", "-o", out, "--teacher", model_path, "--low", "0.1",
                    "--overwrite", "-q")
    assert code == 0 and not error_lines(err)
    assert sorted(p.name for p in (out / "masks").iterdir()) == ["a.png"]
    doc = json.loads((out / "labels.json").read_text())
    assert sorted(doc["images"]) == ["a"] and doc["settings"]["low"] == 0.1
