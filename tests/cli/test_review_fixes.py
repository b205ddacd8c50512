"""Regression tests for problems found in review: input validation, edge cases, halo and speed traps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import RED, build_model, disc_image, split_image

from segblur import Pipeline, RefineConfig, Segmenter
from segblur.cli.main import main
from segblur.media.images import write_image
from segblur.runtime.compose import composite
from segblur.runtime.effects import make_effect
from segblur.runtime.model import ModelError, OnnxModel
from segblur.runtime.refine import feather_matte, grow_shrink

# --- refine ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value", [("feather", float("inf")), ("feather", float("nan")),
                                         ("threshold", float("nan")), ("softness", float("inf")), ("grow", 1.5)])
def test_refine_config_rejects_non_finite_or_fractional_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RefineConfig(**{field: value})


def test_large_grow_and_feather_are_clamped_and_keep_their_meaning() -> None:
    alpha = np.zeros((600, 800), np.float32)
    alpha[200:400, 300:500] = 1
    grown = grow_shrink(alpha, 60)  # computed at reduced resolution (see grow_shrink)
    shrunk = grow_shrink(alpha, -60)
    feathered = feather_matte(alpha, 40.0)
    huge = grow_shrink(alpha, 10**6)  # clamped to the frame, no giant kernel
    area = alpha.sum()
    assert grown.sum() > area * 1.8 and shrunk.sum() < area * 0.4
    assert grown[150, 400] > 0.9 and shrunk[300, 400] > 0.9 and shrunk[215, 400] < 0.1
    assert np.all(grown >= alpha) and np.all(shrunk <= alpha)
    assert np.all(huge == 1)
    assert 0 < feathered[200, 300] < 1 and feathered.max() <= 1


def test_small_grow_is_exact_at_full_resolution() -> None:
    alpha = np.zeros((64, 64), np.float32)
    alpha[20:40, 20:40] = 1
    assert grow_shrink(alpha, 2)[18, 30] == 1 and grow_shrink(alpha, 2)[17, 30] == 0
    assert grow_shrink(alpha, -2)[22, 30] == 1 and grow_shrink(alpha, -2)[21, 30] == 0


# --- effects -----------------------------------------------------------------------------------------

def test_bokeh_keeps_foreground_colour_out_of_the_background() -> None:
    frame, mask = disc_image(96, 96, 24, inside=(255, 255, 255), outside=(0, 0, 0))
    yy, xx = np.mgrid[:96, :96]
    ring = (np.hypot(yy - 47.5, xx - 47.5) > 24.5) & (np.hypot(yy - 47.5, xx - 47.5) <= 30)
    alpha = mask.astype(np.float32)
    out = composite(frame, make_effect("bokeh", 1.0).render(frame, alpha), alpha)
    assert out[ring].max() <= 3  # the white subject must not bloom into the black background


def test_partial_colour_is_a_tint() -> None:
    frame = np.random.default_rng(1).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    out = make_effect("color", 0.25, color=(255, 0, 0)).render(frame, np.zeros((20, 30), np.float32))
    expect = np.round(frame * 0.75 + np.array([255, 0, 0]) * 0.25)
    assert np.abs(out.astype(int) - expect).max() <= 1


# --- model contract ----------------------------------------------------------------------------------

@pytest.mark.parametrize("edit,needle", [
    (lambda m: m["input"].update(std=[float("nan")] * 3), "std"),
    (lambda m: m.update(format=True), "format"),
    (lambda m: m["input"].update(size=[True, 32]), "size"),
    (lambda m: m.update(foreground=["person", "person"]), "foreground"),
    (lambda m: m["input"].update(name="pixels"), "input"),
    (lambda m: m["output"].update(name="scores"), "output"),
])
def test_more_bad_metadata_is_refused(tmp_path: Path, edit, needle: str) -> None:
    path = build_model(tmp_path / "m.onnx", edit=edit)
    with pytest.raises(ModelError) as e:
        OnnxModel(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and needle in msg


# --- segmenter / pipeline ----------------------------------------------------------------------------

def test_keeping_a_class_twice_counts_it_once(model_path: Path) -> None:
    img = split_image(32, 48)
    seg = Segmenter(model_path)
    assert np.allclose(seg.predict(img, keep=["person", "person"]), seg.predict(img, keep=["person"]))


def test_pipeline_mask_is_what_process_composites(model_path: Path) -> None:
    img = split_image(32, 48)
    p = Pipeline(model_path, effect="color", color=(0, 0, 0), invert=True)
    alpha = p.mask(img).copy()
    out = p.process(img)
    expect = composite(img, np.zeros_like(img), alpha)
    assert np.abs(out.astype(int) - expect).max() <= 1
    assert alpha[:, :8].mean() < 0.2  # red (person) side is now the part that gets the effect


def test_set_effect_with_an_effect_object_and_options_is_refused(model_path: Path) -> None:
    p = Pipeline(model_path)
    with pytest.raises(ValueError):
        p.set_effect(make_effect("blur"), strength=0.3)


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
