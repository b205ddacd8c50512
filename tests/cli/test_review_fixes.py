"""Regression tests for problems found in review: input validation, edge cases, halo and speed traps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import RED, split_image

from segblur.cli.main import main
from segblur.media.images import write_image

# --- CLI -----------------------------------------------------------------------------------------------

@pytest.fixture()
def photo(tmp_path: Path) -> Path:
    img = split_image(40, 60, left=RED)
    write_image(tmp_path / "a.png", img)
    return tmp_path / "a.png"


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


def test_cli_mask_soft_refuses_threshold(photo: Path, tmp_path: Path, model_path: Path) -> None:
    assert main(["mask", str(photo), "-o", str(tmp_path / "m"), "--soft", "--threshold", "0.2",
                 "--model", str(model_path)]) == 2


def test_cli_background_is_never_overwritten(photo: Path, tmp_path: Path, model_path: Path) -> None:
    bg = tmp_path / "beach.png"
    write_image(bg, np.full((40, 60, 3), 90, np.uint8))
    before = bg.read_bytes()
    main(["image", str(photo), "-o", str(bg), "--background", str(bg), "--model", str(model_path), "-q"])
    assert bg.read_bytes() == before


def test_cli_benchmark_image_effect_and_bad_json(tmp_path: Path, model_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["benchmark", "--size", "64x48", "--repeats", "1", "--effect", "image",
                 "--model", str(model_path)]) == 0
    assert main(["benchmark", "--size", "64x48", "--repeats", "1", "--json", str(tmp_path),
                 "--model", str(model_path)]) == 2
    assert "Traceback" not in capsys.readouterr().err


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
