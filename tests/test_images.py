"""media.images: reading with one-line errors, atomic writing, and input -> output planning."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_one_line_naming

from segblur.media.images import (
    ImageError,
    Job,
    encode_image,
    plan_jobs,
    read_image,
    sniff_format,
    write_atomic,
    write_image,
)


def sample(h: int = 24, w: int = 32) -> np.ndarray:
    """A small RGB image with distinct channels (so an RGB/BGR swap shows)."""
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = np.linspace(0, 255, w, dtype=np.uint8)[None, :]
    img[..., 1] = np.linspace(0, 255, h, dtype=np.uint8)[:, None]
    img[..., 2] = 40
    return img


def encoded(suffix: str, img: np.ndarray | None = None) -> bytes:
    ok, buf = cv2.imencode(suffix, cv2.cvtColor(sample() if img is None else img, cv2.COLOR_RGB2BGR))
    assert ok
    return buf.tobytes()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# --- read_image ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".webp"])
def test_lossless_round_trip_keeps_rgb_order(tmp_path: Path, suffix: str) -> None:
    p = tmp_path / f"a{suffix}"
    write_image(p, sample())
    if suffix == ".webp":
        assert np.abs(read_image(p).astype(int) - sample()).max() < 20  # lossy at quality 95
    else:
        np.testing.assert_array_equal(read_image(p), sample())


def test_jpeg_round_trip(tmp_path: Path) -> None:
    p = tmp_path / "a.jpg"
    write_image(p, sample(), quality=98)
    img = read_image(p)
    assert img.shape == (24, 32, 3) and img.dtype == np.uint8
    assert np.abs(img.astype(int) - sample()).mean() < 4


def test_read_image_accepts_str_paths_and_trailing_bytes_after_jpeg_end(tmp_path: Path) -> None:
    p = write(tmp_path / "trail.jpg", encoded(".jpg") + b"\x00" * 100)
    assert read_image(str(p)).shape == (24, 32, 3)


def test_read_gray_png_gives_rgb(tmp_path: Path) -> None:
    p = tmp_path / "g.png"
    cv2.imwrite(str(p), np.full((5, 7), 99, np.uint8))
    img = read_image(p)
    assert img.shape == (5, 7, 3) and np.all(img == 99)


def _bad_inputs(tmp: Path) -> dict[str, Path]:
    jpg, png = encoded(".jpg"), encoded(".png")
    folder = tmp / "folder.jpg"
    folder.mkdir()
    return {
        "missing": tmp / "missing.jpg",
        "folder": folder,
        "empty": write(tmp / "empty.jpg", b""),
        "truncated-jpeg": write(tmp / "cut.jpg", jpg[: len(jpg) // 2]),
        "truncated-png": write(tmp / "cut.png", png[: len(png) - 20]),
        "text-as-jpg": write(tmp / "notes.jpg", b"hello, I am a text file\n" * 5),
        "gif": write(tmp / "anim.gif", b"GIF89a" + b"\x00" * 64),
        "random-bytes": write(tmp / "noise.png", bytes(range(256)) * 4),
        "jpeg-header-then-garbage": write(tmp / "garbage.jpg", b"\xff\xd8\xff" + b"\x13" * 300 + b"\xff\xd9"),
    }


BAD_KINDS = ["missing", "folder", "empty", "truncated-jpeg", "truncated-png", "text-as-jpg", "gif", "random-bytes",
             "jpeg-header-then-garbage"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_unreadable_images_raise_one_line_image_error(tmp_path: Path, kind: str) -> None:
    path = _bad_inputs(tmp_path)[kind]
    with pytest.raises(ImageError) as ei:
        read_image(path)
    assert_one_line_naming(ei.value, path)


@pytest.mark.parametrize(("kind", "words"), [("missing", "no such file"), ("folder", "folder"), ("empty", "empty"),
                                             ("truncated-jpeg", "truncated"), ("truncated-png", "truncated"),
                                             ("text-as-jpg", "not a supported image")])
def test_image_errors_say_what_is_wrong(tmp_path: Path, kind: str, words: str) -> None:
    with pytest.raises(ImageError, match=words):
        read_image(_bad_inputs(tmp_path)[kind])


@pytest.mark.parametrize(("data", "fmt"), [
    (b"\xff\xd8\xff\xe0", "JPEG"), (b"\x89PNG\r\n\x1a\n....", "PNG"), (b"BM....", "BMP"), (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"), (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP"), (b"GIF89a", None), (b"", None), (b"RIFF", None),
])
def test_sniff_format(data: bytes, fmt: str | None) -> None:
    assert sniff_format(data) == fmt


# --- writing -------------------------------------------------------------------------------------------

def test_write_image_is_atomic_and_leaves_no_temp_file(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "dir" / "out.png"  # missing folders are created
    write_image(out, sample())
    write_image(out, sample()[::-1].copy())  # overwrite an existing file
    assert files_in(tmp_path) == ["sub/dir/out.png"]
    np.testing.assert_array_equal(read_image(out), sample()[::-1])


def test_write_image_writes_gray_masks(tmp_path: Path) -> None:
    m = np.zeros((6, 8), np.uint8)
    m[:, 4:] = 255
    write_image(tmp_path / "m.png", m)
    back = cv2.imread(str(tmp_path / "m.png"), cv2.IMREAD_UNCHANGED)
    assert back.shape == (6, 8)
    np.testing.assert_array_equal(back, m)


def test_unwritable_target_raises_image_error_and_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    target = blocker / "out.png"  # parent is a file
    with pytest.raises(ImageError) as ei:
        write_image(target, sample())
    assert_one_line_naming(ei.value, target)
    folder = tmp_path / "taken.png"
    folder.mkdir()  # the target is a folder: the rename fails
    with pytest.raises(ImageError) as ei:
        write_image(folder, sample())
    assert_one_line_naming(ei.value, folder)
    assert files_in(tmp_path) == ["file.txt"]


@pytest.mark.parametrize("name", ["out.gif", "out", "out.txt"])
def test_unsupported_suffix_raises_image_error(tmp_path: Path, name: str) -> None:
    with pytest.raises(ImageError) as ei:
        write_image(tmp_path / name, sample())
    assert_one_line_naming(ei.value, tmp_path / name)
    assert files_in(tmp_path) == []


def test_suffix_is_case_insensitive(tmp_path: Path) -> None:
    write_image(tmp_path / "UP.PNG", sample())
    np.testing.assert_array_equal(read_image(tmp_path / "UP.PNG"), sample())


def test_encode_image_quality_changes_jpeg_size() -> None:
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert len(encode_image(img, ".jpg", 20)) < len(encode_image(img, ".jpg", 95))
    with pytest.raises(ImageError):
        encode_image(img, ".gif")


def test_write_atomic_cleans_up_when_interrupted(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_atomic(target, object())  # type: ignore[arg-type]  # fails mid-write
    assert target.read_bytes() == b"old"  # the previous content survives
    assert files_in(tmp_path) == ["x.bin"]
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"


# --- plan_jobs -----------------------------------------------------------------------------------------

@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """in/a.jpg, in/sub/b.png, in/sub/deeper/c.JPG, in/notes.txt, in/.hidden.jpg"""
    root = tmp_path / "in"
    for rel in ["a.jpg", "sub/b.png", "sub/deeper/c.JPG", ".hidden.jpg"]:
        write(root / rel, b"x")
    write(root / "notes.txt", b"text")
    return root


def test_one_file_and_a_file_output(tree: Path, tmp_path: Path) -> None:
    jobs, errors = plan_jobs([tree / "a.jpg"], tmp_path / "result.png")
    assert errors == []
    assert jobs == [Job(tree / "a.jpg", tmp_path / "result.png")]


def test_one_file_and_an_existing_folder_output(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    jobs, _ = plan_jobs([tree / "a.jpg"], out)
    assert jobs == [Job(tree / "a.jpg", out / "a.jpg")]


def test_one_file_and_an_output_without_suffix_is_a_folder(tree: Path, tmp_path: Path) -> None:
    jobs, _ = plan_jobs([tree / "a.jpg"], tmp_path / "newdir")
    assert jobs == [Job(tree / "a.jpg", tmp_path / "newdir" / "a.jpg")]


def test_several_inputs_go_to_a_folder(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.d"  # even a name with a suffix is a folder for several inputs
    jobs, errors = plan_jobs([tree / "a.jpg", tree / "sub" / "b.png"], out)
    assert errors == []
    assert jobs == [Job(tree / "a.jpg", out / "a.jpg"), Job(tree / "sub" / "b.png", out / "b.png")]


def test_folder_input_recurses_and_keeps_relative_paths(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    jobs, errors = plan_jobs([tree], out)
    assert errors == []
    assert {(j.src, j.dst) for j in jobs} == {
        (tree / "a.jpg", out / "a.jpg"),
        (tree / "sub" / "b.png", out / "sub" / "b.png"),
        (tree / "sub" / "deeper" / "c.JPG", out / "sub" / "deeper" / "c.JPG"),
    }  # notes.txt and the hidden file are skipped


def test_suffix_replaces_output_suffixes(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "masks"
    jobs, errors = plan_jobs([tree], out, suffix=".png", single_file_ok=False)
    assert errors == []
    assert sorted(str(j.dst.relative_to(out)) for j in jobs) == ["a.png", "sub/b.png", "sub/deeper/c.png"]


def test_single_file_not_ok_makes_out_a_folder(tree: Path, tmp_path: Path) -> None:
    jobs, _ = plan_jobs([tree / "a.jpg"], tmp_path / "x.png", suffix=".png", single_file_ok=False)
    assert jobs == [Job(tree / "a.jpg", tmp_path / "x.png" / "a.png")]


def test_output_equal_to_an_input_is_refused(tree: Path) -> None:
    jobs, errors = plan_jobs([tree / "a.jpg"], tree / "a.jpg")
    assert jobs == []
    assert len(errors) == 1 and "overwrite" in errors[0] and str(tree / "a.jpg") in errors[0]


def test_output_folder_equal_to_input_folder_is_refused(tree: Path) -> None:
    jobs, errors = plan_jobs([tree], tree)
    assert jobs == []
    assert len(errors) == 3 and all("overwrite" in e for e in errors)


def test_collisions_are_reported(tmp_path: Path) -> None:
    a, b = write(tmp_path / "x" / "pic.jpg", b"1"), write(tmp_path / "y" / "pic.jpg", b"2")
    jobs, errors = plan_jobs([a, b], tmp_path / "out")
    assert jobs == [Job(a, tmp_path / "out" / "pic.jpg")]
    assert len(errors) == 1 and str(b) in errors[0] and str(a) in errors[0]


def test_collision_after_suffix_change_is_reported(tmp_path: Path) -> None:
    src = tmp_path / "in"
    write(src / "pic.jpg", b"1")
    write(src / "pic.png", b"2")
    jobs, errors = plan_jobs([src], tmp_path / "out", suffix=".png", single_file_ok=False)
    assert len(jobs) == 1 and len(errors) == 1
    assert "pic" in errors[0]


def test_missing_input_and_empty_folder_are_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    jobs, errors = plan_jobs([tmp_path / "nope.jpg", empty], tmp_path / "out")
    assert jobs == []
    assert len(errors) == 2
    assert str(tmp_path / "nope.jpg") in errors[0] and str(empty) in errors[1]
    assert all("\n" not in e for e in errors)


def test_unwritable_output_suffix_is_an_error(tmp_path: Path) -> None:
    src = write(tmp_path / "pic.jpg", b"1")
    jobs, errors = plan_jobs([src], tmp_path / "out.gif")
    assert jobs == []
    assert len(errors) == 1 and "out.gif" in errors[0] and ".gif" in errors[0]


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_image(tmp_path / "out.png", sample())
        plain = tmp_path / "plain.bin"
        plain.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644
