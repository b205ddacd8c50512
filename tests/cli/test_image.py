"""``segblur image``: effects on files and folders, bad inputs and options reported in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import BLUE, GREEN, RED, files_in, one_error_line, run_cli, save_image, split_image

from segblur.cli.main import main
from segblur.media.images import read_image, write_image


@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    img = split_image(40, 60, left=RED)
    write_image(tmp_path / "a.png", img)
    return tmp_path / "a.png"


def test_image_one_file_writes_that_file_same_size(tmp_path: Path, model_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    src = save_image(tmp_path / "in.png", split_image(30, 44))
    dst = tmp_path / "result.jpg"
    code, _, err = run_cli(capsys, "image", src, "-o", dst, "--model", model_path)
    assert code == 0, err
    out = read_image(dst)
    assert out.shape == (30, 44, 3)
    assert files_in(tmp_path) == ["in.png", "result.jpg"]


def test_image_folder_is_mirrored(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "in"
    save_image(src / "a.png", split_image(20, 30))
    save_image(src / "sub" / "b.jpg", split_image(26, 18))
    save_image(src / "sub" / "deep" / "c.png", split_image(16, 16))
    (src / "readme.txt").write_text("not an image")
    code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "out", "--model", model_path, "-q")
    assert code == 0, err
    assert files_in(tmp_path / "out") == ["a.png", "sub/b.jpg", "sub/deep/c.png"]
    assert read_image(tmp_path / "out" / "sub" / "b.jpg").shape == (26, 18, 3)
    assert read_image(tmp_path / "out" / "sub" / "deep" / "c.png").shape == (16, 16, 3)


def test_image_mixed_good_and_bad_inputs(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good1 = save_image(tmp_path / "good1.png", split_image(20, 30))
    good2 = save_image(tmp_path / "good2.jpg", split_image(24, 24))
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
    code, _, err = run_cli(capsys, "image", *args, "-o", out, "--model", model_path)
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
    src = save_image(tmp_path / "in.png", split_image(16, 16))
    code, out, err = run_cli(capsys, "image", src, "-o", tmp_path / "o.png", "--model", model_path, "-q")
    assert (code, out, err) == (0, "", "")


@pytest.mark.parametrize("spelling", ["same", "dot", "symlink", "hardlink", "folder"])
def test_image_output_that_is_an_input_is_refused_up_front(tmp_path: Path, model_path: Path, spelling: str,
                                                           capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """-o naming an input (however spelled: ./a.png, a link, a hard link, the input folder itself) is a bad output:
    one line, exit 2, before anything is read or written; not a failed input (exit 1)."""
    import os

    src = save_image(tmp_path / "in.png", split_image(16, 16))
    before = src.read_bytes()
    monkeypatch.chdir(tmp_path)
    given: str | Path = src
    out: str | Path = {"same": src, "dot": "./in.png", "folder": tmp_path}.get(spelling, tmp_path / "other.png")
    if spelling == "symlink":
        Path(out).symlink_to(src)
    elif spelling == "hardlink":
        os.link(src, out)
    elif spelling == "folder":
        given = tmp_path
    code, _, err = run_cli(capsys, "image", given, "-o", out, "--model", model_path)
    line = one_error_line(err)
    assert code == 2 and line.startswith(f"segblur: error: {out}: is the input") and "Traceback" not in err, line
    assert src.read_bytes() == before


def test_image_output_folder_inside_the_input_folder_is_still_allowed(tmp_path: Path, model_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    src = save_image(tmp_path / "photos" / "a.png", split_image(16, 16))
    code, _, err = run_cli(capsys, "image", src.parent, "-o", src.parent / "blurred", "--model", model_path, "-q")
    assert code == 0, err
    assert files_in(src.parent / "blurred") == ["a.png"]


@pytest.mark.parametrize("model", ["no-such-model", "missing.onnx", "text.onnx", "empty.onnx"])
def test_invalid_model_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str) -> None:
    src = save_image(tmp_path / "in.png", split_image(16, 16))
    (tmp_path / "text.onnx").write_text("hello")
    (tmp_path / "empty.onnx").write_bytes(b"")
    m = model if model == "no-such-model" else str(tmp_path / model)
    code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "out.png", "--model", m)
    assert code == 2
    line = one_error_line(err)
    assert m in line and line.startswith("segblur: error:")
    assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("opts", [["--strength", "5"], ["--strength", "-1"], ["--effect", "color", "--color", "junk"],
                                  ["--threshold", "2"], ["--effect", "blur", "--background", "in.png"],
                                  ["--effect", "image", "--background", "missing.png"],
                                  ["--provider", "NoSuchExecutionProvider"], ["--providers", "cuda"]])
def test_bad_options_exit_2_with_one_line(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str],
                                          opts: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    save_image(tmp_path / "in.png", split_image(16, 16))
    code, _, err = run_cli(capsys, "image", "in.png", "-o", "out.png", "--model", model_path, *opts)
    assert code == 2
    one_error_line(err)
    assert not (tmp_path / "out.png").exists()


def test_unknown_effect_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as ei:
        main(["image", "x.png", "-o", str(tmp_path / "o.png"), "--effect", "sparkle"])
    assert ei.value.code == 2
    assert "sparkle" in capsys.readouterr().err


def test_effect_color(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = save_image(tmp_path / "in.png", split_image(24, 40))  # red person left, green background right
    code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "o.png", "--model", model_path,
                           "--effect", "color", "--color", "#ff0000", "-q")
    assert code == 0, err
    out = read_image(tmp_path / "o.png")
    assert np.all(out[:, 28:] == RED)
    code, _, _ = run_cli(capsys, "image", src, "-o", tmp_path / "o2.png", "--model", model_path,
                         "--effect", "color", "--color", "0,0,255", "--invert", "-q")
    out = read_image(tmp_path / "o2.png")
    assert np.all(out[:, :12] == BLUE) and np.all(out[:, 28:] == GREEN)


def test_background_image(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = save_image(tmp_path / "in.png", split_image(24, 40))
    bg = save_image(tmp_path / "bg.png", np.full((10, 12, 3), BLUE, np.uint8))
    code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "o.png", "--model", model_path,
                           "--background", bg, "--strength", "0", "-q")  # --background implies --effect image
    assert code == 0, err
    out = read_image(tmp_path / "o.png")
    assert np.all(out[:, :12] == RED) and np.all(out[:, 28:] == BLUE)


def test_keep_option(tmp_path: Path, model3_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = np.zeros((20, 60, 3), np.uint8)
    img[:, :20], img[:, 20:40], img[:, 40:] = RED, GREEN, BLUE
    src = save_image(tmp_path / "in.png", img)
    code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "o.png", "--model", model3_path,
                           "--effect", "color", "--color", "black", "--keep", "person,car", "-q")
    assert code == 0, err
    out = read_image(tmp_path / "o.png")
    assert np.all(out[:, :16] == RED) and np.all(out[:, 44:] == BLUE) and np.all(out[:, 24:36] == 0)
    code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "o2.png", "--model", model3_path, "--keep", "dog")
    assert code == 2 and "dog" in one_error_line(err)


@pytest.mark.parametrize("extra", [["--quality", "200"], ["--feather", "inf"], ["--feather", "nan"],
                                   ["--threads", "0"], ["--grow", "1e9"], ["--strength", "nan"]])
def test_cli_rejects_bad_numbers_with_exit_2(photo: Path, tmp_path: Path, extra: list[str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["image", str(photo), "-o", str(tmp_path / "o.png"), *extra])
    assert e.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_cli_several_inputs_into_an_existing_file_is_refused_up_front(photo: Path, tmp_path: Path,
                                                                      model_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "exists.jpg"
    target.write_bytes(b"x")
    assert main(["image", str(photo), str(photo), "-o", str(target), "--model", str(model_path)]) == 2
    assert "exists.jpg" in capsys.readouterr().err
    assert target.read_bytes() == b"x"


def test_cli_a_bad_output_file_is_exit_2_with_one_line(photo: Path, tmp_path: Path, model_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """An output under a file, or with a suffix no image is written as, is a bad output (exit 2), not a failed
    input (exit 1, with a second "0 written" line)."""
    (tmp_path / "taken").write_bytes(b"x")
    for command, out, words in [("image", tmp_path / "taken" / "v.jpg", "is a file, not a folder"),
                                ("mask", tmp_path / "taken" / "m.png", "is a file, not a folder"),
                                ("image", tmp_path / "out.xyz", "cannot write '.xyz' files")]:
        code, _, err = run_cli(capsys, command, photo, "-o", out, "--model", model_path)
        line = one_error_line(err)
        assert code == 2 and line.startswith(f"segblur: error: {out}: ") and words in line, line
    assert files_in(tmp_path) == ["a.png", "taken"]


def test_cli_background_is_never_overwritten(photo: Path, tmp_path: Path, model_path: Path) -> None:
    bg = tmp_path / "beach.png"
    write_image(bg, np.full((40, 60, 3), 90, np.uint8))
    before = bg.read_bytes()
    main(["image", str(photo), "-o", str(bg), "--background", str(bg), "--model", str(model_path), "-q"])
    assert bg.read_bytes() == before


def test_cli_reports_a_decoder_bomb_and_goes_on(tmp_path: Path, photo: Path, model_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b""))
    out = tmp_path / "out"
    assert main(["image", str(bomb), str(photo), "-o", str(out), "--model", str(model_path), "-q"]) == 1
    err = capsys.readouterr().err
    assert "bomb.png" in err and "Traceback" not in err
    assert (out / "a.png").exists()


def test_cli_several_inputs_into_a_name_like_a_file_is_refused(photo: Path, tmp_path: Path, model_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    other = save_image(tmp_path / "b.png", split_image(20, 20))
    code, _, err = run_cli(capsys, "image", photo, other, "-o", tmp_path / "single.jpg", "--model", model_path)
    assert code == 2 and "single.jpg" in one_error_line(err) and "several inputs" in err
    assert not (tmp_path / "single.jpg").exists()  # no folder named like a file


def test_cli_rgba_png_keeps_its_alpha_and_jpeg_says_it_cannot(tmp_path: Path, model_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    rgba = np.dstack([split_image(20, 30), np.tile(np.linspace(0, 255, 30, dtype=np.uint8), (20, 1))])
    src = tmp_path / "logo.png"
    assert cv2.imwrite(str(src), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "out.png", "--model", model_path)
    assert code == 0 and "note" not in err, err
    out = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert out.shape == (20, 30, 4) and np.array_equal(out[..., 3], rgba[..., 3])
    code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "out.jpg", "--model", model_path)
    assert code == 0
    note = [ln for ln in err.splitlines() if "note" in ln]
    assert len(note) == 1 and "alpha" in note[0] and "out.jpg" in note[0]


def test_cli_16_bit_png_gives_16_bit_png(tmp_path: Path, model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import cv2

    deep = (split_image(20, 30).astype(np.uint16) * 257)
    deep[:, :15, 0] -= 100  # red side: kept as it is, 16-bit values that 8 bits cannot hold
    src = tmp_path / "scan.png"
    assert cv2.imwrite(str(src), cv2.cvtColor(deep, cv2.COLOR_RGB2BGR))
    code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / "out.png", "--model", model_path, "--grow", "-3")
    assert code == 0, err
    out = cv2.cvtColor(cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED), cv2.COLOR_BGR2RGB)
    assert out.dtype == np.uint16 and out.shape == (20, 30, 3)
    assert np.array_equal(out[:, :10], deep[:, :10])  # the person (red), well inside the mask: exactly as it was


def test_cli_output_inside_or_equal_to_the_model_is_refused(tmp_path: Path, model_path: Path, photo: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(model_path.read_bytes())
    before = model.read_bytes()
    code, _, err = run_cli(capsys, "image", photo, "-o", model, "--model", model)
    assert code == 2 and str(model) in one_error_line(err)
    assert model.read_bytes() == before


def test_cli_color_takes_css_names(photo: Path, tmp_path: Path, model_path: Path) -> None:
    assert main(["image", str(photo), "-o", str(tmp_path / "o.png"), "--model", str(model_path), "--effect", "color",
                 "--color", "red", "-q"]) == 0
    assert tuple(read_image(tmp_path / "o.png")[0, -1]) == (255, 0, 0)  # the green side became red


def test_image_subject_main_gives_the_people_at_the_edge_the_effect(tmp_path: Path, model_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    img = np.zeros((120, 160, 3), np.uint8)
    img[:] = GREEN
    img[30:110, 65:95] = RED  # the main person, in the middle
    img[4:24, 4:20] = RED  # someone small in the corner
    src = save_image(tmp_path / "two.png", img)
    outs = {}
    for name, extra in (("all", []), ("main", ["--subject", "main"]), ("follow", ["--subject", "main", "--follow"])):
        code, _, err = run_cli(capsys, "image", src, "-o", tmp_path / f"{name}.png", "--model", model_path,
                               "--effect", "color", "--color", "#0000ff", "-q", *extra)
        assert code == 0, err
        outs[name] = read_image(tmp_path / f"{name}.png")
    assert tuple(outs["all"][14, 12]) == RED and tuple(outs["all"][70, 80]) == RED
    for name in ("main", "follow"):
        assert tuple(outs[name][70, 80]) == RED, name  # kept
        assert tuple(outs[name][14, 12]) == BLUE, name  # not the main person: the effect


@pytest.mark.parametrize(("command", "options"), [
    ("image", ["--subject", "--follow"]), ("mask", ["--subject", "--follow", "--lookahead", "--no-temporal"]),
    ("video", ["--subject", "--follow", "--lookahead", "--no-temporal", "--alpha"]),
    ("camera", ["--subject", "--follow", "--no-temporal"]),
    ("evaluate", ["--sequence", "--masks", "--region", "--subject", "--lookahead"])])
def test_the_subject_and_smoothing_options_are_in_help(command: str, options: list[str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])
    out = capsys.readouterr().out
    assert all(o in out for o in options), [o for o in options if o not in out]


@pytest.mark.parametrize("text", ["8x8", "15x720", "1280x3"])
def test_size_under_the_minimum_says_the_minimum(text: str) -> None:
    """--size (camera, benchmark; the type lives with the other shared option types in cli/common)."""
    import argparse

    from segblur.cli.common import MIN_SIDE, size

    with pytest.raises(argparse.ArgumentTypeError) as ei:
        size(text)
    assert str(ei.value) == f"size {text!r} is too small: each side must be at least {MIN_SIDE} pixels"
    assert size("16x16") == (16, 16)


@pytest.mark.parametrize("command", ["image", "mask"])
def test_dash_as_output_is_refused_not_made_a_folder(command: str, tmp_path: Path, model_path: Path,
                                                     capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    src = save_image(tmp_path / "a.jpg", split_image(20, 24))
    code = main([command, str(src), "-o", "-", "--model", str(model_path)])
    err = capsys.readouterr().err
    assert code == 2 and "-o -: pictures are written to files" in err and not (tmp_path / "-").exists(), err
