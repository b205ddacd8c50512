"""media.images: reading with one-line errors, atomic writing, and input -> output planning."""

from __future__ import annotations

import os
import struct
import sys
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import assert_one_line_naming

from segblur.io import open_temp, write_atomic
from segblur.media import headers
from segblur.media.images import (
    ImageError,
    Job,
    encode_image,
    plan_jobs,
    read_image,
    sniff_format,
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
    jobs, errors = plan_jobs([tree], out, suffix=".png")
    assert errors == []
    assert sorted(str(j.dst.relative_to(out)) for j in jobs) == ["a.png", "sub/b.png", "sub/deeper/c.png"]


def test_one_input_and_an_output_named_like_the_suffix_is_that_file(tree: Path, tmp_path: Path) -> None:
    jobs, errors = plan_jobs([tree / "a.jpg"], tmp_path / "mask.png", suffix=".png")  # `segblur mask x.jpg -o mask.png`
    assert errors == [] and jobs == [Job(tree / "a.jpg", tmp_path / "mask.png")]
    with pytest.raises(ImageError, match=r"mask\.jpg: this output is written as \.png; name it mask\.png"):
        plan_jobs([tree / "a.jpg"], tmp_path / "mask.jpg", suffix=".png")  # a JPEG mask would not hold 0/255
    assert not (tmp_path / "mask.jpg").exists()


@pytest.mark.parametrize("inputs", [["a.jpg", "sub/b.png"], [""]])
def test_several_inputs_and_an_output_named_like_a_file_is_an_error(tree: Path, tmp_path: Path,
                                                                   inputs: list[str]) -> None:
    # `image a.jpg b.jpg -o single.jpg` (or a folder) used to create a folder called single.jpg
    with pytest.raises(ImageError) as ei:
        plan_jobs([tree / i for i in inputs], tmp_path / "single.JPG")
    assert_one_line_naming(str(ei.value), tmp_path / "single.JPG")
    assert "several inputs" in str(ei.value) and not (tmp_path / "single.JPG").exists()
    (tmp_path / "taken.txt").write_text("x")
    with pytest.raises(ImageError, match="is a file; several inputs"):
        plan_jobs([tree / i for i in inputs], tmp_path / "taken.txt")
    (tmp_path / "folder.jpg").mkdir()  # an existing folder, or a name ending in a separator, is a folder after all
    assert len(plan_jobs([tree / i for i in inputs], tmp_path / "folder.jpg")[0]) >= 2
    assert len(plan_jobs([tree / i for i in inputs], str(tmp_path / "new.jpg") + os.sep)[0]) >= 2


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
    jobs, errors = plan_jobs([src], tmp_path / "out", suffix=".png")
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
    with pytest.raises(ImageError) as ei:
        plan_jobs([src], tmp_path / "out.gif")
    assert_one_line_naming(ei.value, tmp_path / "out.gif")
    assert "cannot write '.gif' files" in str(ei.value)


def test_an_output_under_a_file_is_an_error(tmp_path: Path) -> None:
    src = write(tmp_path / "pic.jpg", b"1")
    taken = write(tmp_path / "taken", b"x")
    for out, inputs in [(taken / "v.jpg", [src]), (taken / "deeper" / "v.jpg", [src]), (taken / "d", [src, src]),
                        (str(taken / "d") + os.sep, [src])]:
        with pytest.raises(ImageError) as ei:
            plan_jobs(inputs, out)
        assert_one_line_naming(ei.value, Path(out))
        assert f"{taken} is a file, not a folder" in str(ei.value)


def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        write_image(tmp_path / "out.png", sample())
        plain = tmp_path / "plain.bin"
        plain.write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == plain.stat().st_mode & 0o777 == 0o644


# --- structure walks: trailing data is fine, a missing end is truncation -------------------------------

def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def jpeg_with_exif_thumbnail() -> bytes:
    """A JPEG whose APP1 (EXIF-like) segment holds a whole thumbnail JPEG, EOI (FFD9) included."""
    thumb = encoded(".jpg", sample(8, 8))
    payload = b"Exif\0\0" + b"II*\x00\x08\x00\x00\x00" + b"\x00\x00" + b"\x00\x00\x00\x00" + thumb
    app1 = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    jpg = encoded(".jpg")
    return jpg[:2] + app1 + jpg[2:]


def progressive_jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(sample(40, 48), cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_PROGRESSIVE, 1, cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    data = buf.tobytes()
    assert data.count(b"\xff\xda") > 1  # several scans
    return data


def test_jpeg_with_a_motion_photo_video_appended_is_read(tmp_path: Path) -> None:
    video = b"\x00\x00\x00\x1cftypmp42" + bytes(range(256)).replace(b"\xff", b"\xfe") * 40  # no EOI in it
    p = write(tmp_path / "motion.jpg", encoded(".jpg") + video)
    assert read_image(p).shape == (24, 32, 3)


def test_png_with_trailing_bytes_after_iend_is_read(tmp_path: Path) -> None:
    p = write(tmp_path / "trail.png", encoded(".png") + b"\x00" * 200 + b"more junk")
    np.testing.assert_array_equal(read_image(p), sample())


def test_progressive_jpeg_is_read(tmp_path: Path) -> None:
    assert read_image(write(tmp_path / "prog.jpg", progressive_jpeg() + b"tail")).shape == (40, 48, 3)


def test_jpeg_with_restart_markers_is_read(tmp_path: Path) -> None:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(sample(64, 64), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_RST_INTERVAL, 1])
    assert ok and any(bytes([0xFF, 0xD0 + k]) in buf.tobytes() for k in range(8))
    assert read_image(write(tmp_path / "rst.jpg", buf.tobytes())).shape == (64, 64, 3)


def test_jpeg_with_exif_thumbnail_is_read(tmp_path: Path) -> None:
    assert read_image(write(tmp_path / "exif.jpg", jpeg_with_exif_thumbnail())).shape == (24, 32, 3)


def _cuts(data: bytes) -> list[int]:
    """Cut points: inside each scan, just after each scan header, and just before EOI."""
    sos = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\xda"]
    return sorted({len(data) - 2, len(data) - 1} | {i + 20 for i in sos} | {(a + b) // 2 for a, b in zip(sos, sos[1:])})


@pytest.mark.parametrize("kind", ["baseline", "progressive", "exif"])
def test_truncated_jpegs_are_refused(tmp_path: Path, kind: str) -> None:
    data = {"baseline": encoded(".jpg"), "progressive": progressive_jpeg(), "exif": jpeg_with_exif_thumbnail()}[kind]
    for n in _cuts(data):
        p = write(tmp_path / f"cut{n}.jpg", data[:n])
        with pytest.raises(ImageError, match="truncated JPEG") as ei:
            read_image(p)
        assert_one_line_naming(ei.value, p)


def test_jpeg_cut_after_its_exif_thumbnail_is_truncated(tmp_path: Path) -> None:
    """The thumbnail's EOI sits near the end of the cut file, but it is inside APP1: not the image's end."""
    data = jpeg_with_exif_thumbnail()
    app1_end = 4 + int.from_bytes(data[4:6], "big")
    p = write(tmp_path / "cut.jpg", data[:app1_end + 30])
    with pytest.raises(ImageError, match="truncated JPEG"):
        read_image(p)


@pytest.mark.parametrize("cut", [4, 8, 12, 20])  # from the end: inside IEND, IEND missing, mid-IDAT
def test_truncated_pngs_are_refused(tmp_path: Path, cut: int) -> None:
    png = encoded(".png")
    p = write(tmp_path / "cut.png", png[:-cut] + (b"IEND" if cut == 12 else b""))  # 'IEND' text alone is no chunk
    with pytest.raises(ImageError, match="truncated PNG") as ei:
        read_image(p)
    assert_one_line_naming(ei.value, p)


def test_jpeg_walk_handles_large_stuffed_scans() -> None:
    rng = np.random.default_rng(0)
    scan = rng.integers(0, 256, 5_000_000, dtype=np.uint8).tobytes().replace(b"\xff", b"\xff\x00")
    data = b"\xff\xd8\xff\xda\x00\x08" + b"\x01\x01\x00\x00\x3f\x00" + scan + b"\xff\xd9"
    assert not headers.truncated(data, "JPEG")
    assert headers.truncated(data[:-2], "JPEG")


# --- decode failures -----------------------------------------------------------------------------------

def test_png_claiming_a_huge_size_is_too_large(tmp_path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    data = (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\0" * 10))
            + png_chunk(b"IEND", b""))
    p = write(tmp_path / "huge.png", data)
    with pytest.raises(ImageError, match=r"too large \(100000x100000\)") as ei:
        read_image(p)
    assert_one_line_naming(ei.value, p)


def test_bmp_claiming_a_huge_size_is_too_large(tmp_path: Path) -> None:
    data = (b"BM" + struct.pack("<IHHI", 54, 0, 0, 54)
            + struct.pack("<IiiHHIIiiII", 40, 100000, -100000, 1, 24, 0, 0, 0, 0, 0, 0))
    p = write(tmp_path / "huge.bmp", data)
    with pytest.raises(ImageError, match=r"too large \(100000x100000\)") as ei:
        read_image(p)
    assert_one_line_naming(ei.value, p)


@pytest.mark.parametrize(("exc", "words"), [(cv2.error("bad thing\nin two lines"), "cannot decode"),
                                            (MemoryError(), "too large")])
def test_decoder_exceptions_become_image_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                exc: BaseException, words: str) -> None:
    p = write(tmp_path / "a.png", encoded(".png"))

    def boom(*_a: object) -> None:
        raise exc

    monkeypatch.setattr(cv2, "imdecode", boom)
    with pytest.raises(ImageError, match=words) as ei:
        read_image(p)
    assert_one_line_naming(ei.value, p)


def test_read_image_with_too_long_a_name(tmp_path: Path) -> None:
    p = tmp_path / ("x" * 300 + ".jpg")
    with pytest.raises(ImageError, match="too long") as ei:
        read_image(p)
    assert_one_line_naming(ei.value, p)


# --- writing: quality, long names ----------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".jpg", ".webp"])
@pytest.mark.parametrize("quality", [-1, 101, 1000])
def test_quality_out_of_range_is_an_error(tmp_path: Path, suffix: str, quality: int) -> None:
    p = tmp_path / f"a{suffix}"
    with pytest.raises(ImageError, match="quality") as ei:
        write_image(p, sample(), quality=quality)
    assert_one_line_naming(ei.value, p)
    assert files_in(tmp_path) == []


@pytest.mark.parametrize("quality", [0, 100])
def test_quality_limits_are_accepted(tmp_path: Path, quality: int) -> None:
    write_image(tmp_path / "a.jpg", sample(), quality=quality)
    write_image(tmp_path / "a.webp", sample(), quality=quality)
    write_image(tmp_path / "a.png", sample(), quality=101)  # ignored for PNG
    assert files_in(tmp_path) == ["a.jpg", "a.png", "a.webp"]


def test_longest_file_names_can_be_written(tmp_path: Path) -> None:
    name = "n" * 246 + ".png"  # 250 characters: the temp file must not be longer than 255
    write_image(tmp_path / name, sample())
    assert files_in(tmp_path) == [name]
    write_atomic(tmp_path / name, b"x")
    assert files_in(tmp_path) == [name]


def test_open_temp_makes_a_short_hidden_file_beside_the_target(tmp_path: Path) -> None:
    fd, tmp = open_temp(tmp_path / ("t" * 250))
    os.close(fd)
    assert tmp.parent == tmp_path and tmp.name.startswith(".") and len(tmp.name) < 30
    fd2, tmp2 = open_temp(tmp_path / "t")
    os.close(fd2)
    assert tmp2 != tmp


# --- plan_jobs: OS errors, folder names, unwritable suffixes, hidden folders, duplicates, protect ----------

def test_too_long_input_name_is_an_error_not_a_traceback(tree: Path, tmp_path: Path) -> None:
    long = tmp_path / ("x" * 300 + ".jpg")
    jobs, errors = plan_jobs([long, tree / "a.jpg"], tmp_path / "out")
    assert jobs == [Job(tree / "a.jpg", tmp_path / "out" / "a.jpg")]
    assert len(errors) == 1 and "too long" in errors[0]
    assert_one_line_naming(errors[0], long)


def test_too_long_output_name_is_an_error(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / ("o" * 300 + ".png")
    with pytest.raises(ImageError) as ei:  # no output can be written: the whole command stops
        plan_jobs([tree / "a.jpg"], out)
    assert "too long" in str(ei.value)
    assert_one_line_naming(str(ei.value), out)


def test_symlink_loop_is_an_error(tree: Path, tmp_path: Path) -> None:
    loop = tmp_path / "loop.jpg"
    loop.symlink_to(loop)
    jobs, errors = plan_jobs([loop, tree / "a.jpg"], tmp_path / "out")
    assert len(jobs) == 1 and len(errors) == 1
    assert_one_line_naming(errors[0], loop)
    (tree / "sub" / "loop.jpg").symlink_to(tree / "sub" / "loop.jpg")  # inside a scanned folder
    jobs, errors = plan_jobs([tree], tmp_path / "out")
    assert len(jobs) == 3 and len(errors) == 1
    assert_one_line_naming(errors[0], tree / "sub" / "loop.jpg")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores permissions")
def test_permission_denied_is_an_error(tree: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    write(locked / "p.jpg", b"x")
    locked.chmod(0)
    try:
        jobs, errors = plan_jobs([locked / "p.jpg", tree / "a.jpg"], tmp_path / "out")
        assert len(jobs) == 1 and len(errors) == 1 and "denied" in errors[0]
        jobs, errors = plan_jobs([tmp_path], tmp_path / "out")  # an unreadable subfolder while scanning
        assert len(jobs) == 3 and len(errors) == 1 and str(locked) in errors[0]
    finally:
        locked.chmod(0o755)


def test_permission_denied_is_an_error_even_as_root(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:
    """The same as above, with EACCES simulated (root is never refused)."""
    locked = tmp_path / "locked"
    write(locked / "p.jpg", b"x")
    real_stat, real_scandir = Path.stat, os.scandir

    def stat(self: Path, **kw: object) -> os.stat_result:
        if str(self).startswith(str(locked) + os.sep):
            raise PermissionError(13, "Permission denied", str(self))
        return real_stat(self, **kw)

    def scandir(path: object = ".") -> object:
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(Path, "stat", stat)
    monkeypatch.setattr(os, "scandir", scandir)
    jobs, errors = plan_jobs([locked / "p.jpg", tree / "a.jpg"], tmp_path / "out")
    assert len(jobs) == 1 and errors == [f"{locked / 'p.jpg'}: Permission denied"]
    jobs, errors = plan_jobs([tmp_path], tmp_path / "out")
    assert len(jobs) == 3 and errors == [f"{locked}: Permission denied"]


@pytest.mark.parametrize("sep", sorted({"/", os.sep}))
def test_output_with_a_trailing_separator_is_a_folder(tree: Path, tmp_path: Path, sep: str) -> None:
    out = str(tmp_path / "my.photos") + sep
    jobs, errors = plan_jobs([tree / "a.jpg"], out)
    assert errors == []
    assert jobs == [Job(tree / "a.jpg", tmp_path / "my.photos" / "a.jpg")]


def test_unwritable_input_suffix_in_a_folder_output_becomes_png(tmp_path: Path) -> None:
    gif = write(tmp_path / "x.gif", b"GIF89a" + b"\x00" * 64)
    txt = write(tmp_path / "notes.txt", b"hello")
    jobs, errors = plan_jobs([gif], tmp_path / "out")
    assert errors == [] and jobs == [Job(gif, tmp_path / "out" / "x.png")]
    jobs, errors = plan_jobs([gif, txt], tmp_path / "out.d")
    assert errors == [] and [j.dst.name for j in jobs] == ["x.png", "notes.png"]
    for job in jobs:  # the real problem is reported when the input is read, naming the input
        with pytest.raises(ImageError, match="not a supported image") as ei:
            read_image(job.src)
        assert_one_line_naming(ei.value, job.src)


def test_unwritable_suffix_of_a_named_output_file_is_still_an_error(tmp_path: Path) -> None:
    gif = write(tmp_path / "x.gif", b"GIF89a")
    with pytest.raises(ImageError) as ei:
        plan_jobs([gif], tmp_path / "named.gif")
    assert_one_line_naming(ei.value, tmp_path / "named.gif")


def test_hidden_folders_are_skipped(tree: Path, tmp_path: Path) -> None:
    write(tree / ".git" / "x.jpg", b"x")
    write(tree / "sub" / ".cache" / "deep" / "y.png", b"x")
    jobs, errors = plan_jobs([tree], tmp_path / "out")
    assert errors == []
    assert sorted(str(j.src.relative_to(tree)) for j in jobs) == ["a.jpg", "sub/b.png", "sub/deeper/c.JPG"]


@pytest.mark.parametrize("where", ["blurred", "sub/blurred"])
def test_output_folder_inside_the_input_folder_is_not_scanned(tree: Path, where: str) -> None:
    out = tree / where
    first, errors = plan_jobs([tree], out)
    assert errors == [] and len(first) == 3
    for job in first:  # as if the first run had written its results
        write(job.dst, b"x")
    again, errors = plan_jobs([tree], out)
    assert errors == [] and again == first
    again, errors = plan_jobs([tree], str(out) + "/")
    assert errors == [] and again == first


def test_output_folder_inside_input_is_found_through_relative_paths(tree: Path, monkeypatch: pytest.MonkeyPatch
                                                                    ) -> None:
    monkeypatch.chdir(tree.parent)
    write(tree / "blurred" / "a.jpg", b"x")
    jobs, errors = plan_jobs(["./in"], "in/../in/blurred")
    assert errors == [] and len(jobs) == 3


def test_same_file_twice_is_processed_once(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tree)
    out = tmp_path / "out"
    jobs, errors = plan_jobs(["a.jpg", "./a.jpg", tree / "a.jpg"], out)
    assert errors == [] and jobs == [Job(Path("a.jpg"), out / "a.jpg")]


def test_folder_and_a_file_inside_it_are_processed_once(tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    jobs, errors = plan_jobs([tree, tree / "sub" / "b.png"], out)
    assert errors == [] and len(jobs) == 3 and Job(tree / "sub" / "b.png", out / "sub" / "b.png") in jobs
    jobs, errors = plan_jobs([tree / "sub" / "b.png", tree], out)  # the first occurrence wins
    assert errors == [] and len(jobs) == 3 and jobs[0] == Job(tree / "sub" / "b.png", out / "b.png")


def test_protected_files_are_never_outputs(tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    background = write(tmp_path / "out" / "a.jpg", b"bg")
    jobs, errors = plan_jobs([tree / "a.jpg", tree / "sub" / "b.png"], tmp_path / "out", protect=[background])
    assert jobs == [Job(tree / "sub" / "b.png", tmp_path / "out" / "b.png")]
    assert len(errors) == 1 and "overwrite" in errors[0] and str(tree / "a.jpg") in errors[0]
    monkeypatch.chdir(tmp_path)
    jobs, errors = plan_jobs([tree / "a.jpg"], background, protect=["out/./a.jpg"])  # the file output itself
    assert jobs == [] and len(errors) == 1 and "overwrite" in errors[0]
    jobs, errors = plan_jobs([tree / "a.jpg"], tmp_path / "r.png", protect=[tmp_path / "missing.png"])
    assert errors == [] and len(jobs) == 1


def test_one_line_reason() -> None:
    """OS errors give their strerror; multi-line and FFmpeg-prefixed messages their last line's text."""
    from segblur.io import one_line

    assert one_line(OSError(2, "No such file or directory")) == "No such file or directory"
    assert one_line(ValueError("first\n[mp4 @ 0x1] moov atom not found")) == "moov atom not found"
    assert one_line(RuntimeError()) == "RuntimeError"
    assert len(one_line(ValueError("x" * 500))) == 200 and one_line(ValueError("x" * 500)).endswith("x ...")
    words = one_line(ValueError("unknown option 'bogus'; known: " + ", ".join(f"option{i}" for i in range(60))))
    assert len(words) <= 200 and words.endswith(" ...") and words[:-4].split()[-1].startswith("option")
    assert one_line(ValueError("short")) == "short"


# --- what is refused before reading or decoding; what is kept beyond 8-bit RGB ---------------------------------

def test_a_fifo_named_like_an_image_is_refused_without_opening_it(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fifo = tmp_path / "x.jpg"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    with monkeypatch.context() as m, pytest.raises(ImageError) as ei:
        m.setattr(Path, "read_bytes", lambda self: pytest.fail("opened"))
        read_image(fifo)
    assert_one_line_naming(str(ei.value), fifo)
    assert "not a regular file" in str(ei.value)
    jobs, errors = plan_jobs([tmp_path], tmp_path / "out")  # found in a folder: skipped with a line
    assert jobs == [] and len(errors) == 1 and str(fifo) in errors[0] and "skipped" in errors[0]


def test_a_link_to_dev_zero_is_refused_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    link = tmp_path / "zero.jpg"
    link.symlink_to("/dev/zero")
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read"))
    with pytest.raises(ImageError, match="not a regular file"):
        read_image(link)


def test_a_file_too_large_for_any_image_is_refused_before_it_is_read(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    big = tmp_path / "big.png"
    with open(big, "wb") as f:  # sparse: 20 MB that take no disk
        f.truncate(20_000_000)
    monkeypatch.setenv("SEGBLUR_MAX_PIXELS", "1M")  # 1 MP: at most 8 MB (+1 MiB) of file is worth reading
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read"))
    with pytest.raises(ImageError) as ei:
        read_image(big)
    assert_one_line_naming(str(ei.value), big)
    assert "too large" in str(ei.value) and "SEGBLUR_MAX_PIXELS" in str(ei.value)


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".bmp", ".webp", ".tif"])
def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded(tmp_path: Path, suffix: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / f"p{suffix}"
    path.write_bytes(encoded(suffix, sample(40, 60)))  # 2400 pixels
    assert headers.dimensions(path.read_bytes(), sniff_format(path.read_bytes())) == (60, 40)
    monkeypatch.setenv("SEGBLUR_MAX_PIXELS", "2000")
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoded"))
    with pytest.raises(ImageError) as ei:
        read_image(path)
    assert_one_line_naming(str(ei.value), path)
    assert "60x40 is 0.0024 MP, over the limit of 0.002 MP set by SEGBLUR_MAX_PIXELS" in str(ei.value)
    monkeypatch.setenv("SEGBLUR_MAX_PIXELS", "2400")
    monkeypatch.undo()
    assert read_image(path).shape == (40, 60, 3)


def test_the_pixel_limit_is_sized_for_the_machine_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from segblur.media import limits

    monkeypatch.delenv("SEGBLUR_MAX_PIXELS", raising=False)
    monkeypatch.setattr(limits, "memory_bytes", lambda: 16 << 30)
    assert limits.max_pixels() == (16 << 30) // 2 // limits.BYTES_PER_PIXEL  # 245 MP on 16 GiB
    monkeypatch.setattr(limits, "memory_bytes", lambda: 1 << 40)
    assert limits.max_pixels() == limits.OPENCV_MAX_PIXELS
    for text, value in (("400000000", 400_000_000), ("400e6", 400_000_000), ("250M", 250_000_000)):
        monkeypatch.setenv("SEGBLUR_MAX_PIXELS", text)
        assert limits.max_pixels() == value
    monkeypatch.setenv("SEGBLUR_MAX_PIXELS", "lots")
    assert limits.max_pixels() == limits.OPENCV_MAX_PIXELS
    assert limits.too_many_pixels(100, 100) is None
    with pytest.raises(ValueError, match="SEGBLUR_MAX_PIXELS='lots' is not a positive number of pixels"):
        limits.env_limit()
    monkeypatch.delenv("SEGBLUR_MAX_PIXELS")
    assert "for this machine's memory (set SEGBLUR_MAX_PIXELS" in limits.too_many_pixels(1 << 16, 1 << 16)


@pytest.mark.parametrize("value", ["bogus", "-5", "0", "nan"])
def test_a_bad_pixel_limit_is_one_line_before_any_input(tmp_path: Path, value: str, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    from segblur.cli.main import main

    path = tmp_path / "a.png"
    write_image(path, sample(8, 8))
    monkeypatch.setenv("SEGBLUR_MAX_PIXELS", value)
    assert main(["image", str(path), "-o", str(tmp_path / "b.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"segblur: error: SEGBLUR_MAX_PIXELS={value!r} is not a positive number of pixels (e.g. " \
        "400000000, 400e6 or 400M)"
    assert not (tmp_path / "b.png").exists()


def test_a_png_header_too_wide_for_opencv_is_refused_before_libpng_sees_it(tmp_path: Path,
                                                                            capfd: pytest.CaptureFixture[str]) -> None:
    ihdr = struct.pack(">IIBBBBB", 2_000_000, 10, 8, 2, 0, 0, 0)
    wide = tmp_path / "wide.png"
    wide.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 100))
                     + _chunk(b"IEND", b""))
    with pytest.raises(ImageError, match=r"wide\.png: image too large \(2000000x10\)"):
        read_image(wide)
    assert capfd.readouterr().err == ""  # libpng printed "Image width exceeds user limit in IHDR" here before


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def test_rgba_and_16_bit_pictures_keep_what_the_format_can_hold(tmp_path: Path) -> None:
    from segblur.media.images import read_picture

    rgb16 = np.zeros((8, 10, 3), np.uint16)
    rgb16[..., 0] = np.arange(10) * 6000 + 7  # values no 8-bit image can hold
    alpha16 = np.full((8, 10), 40000, np.uint16)
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), cv2.cvtColor(np.dstack([rgb16, alpha16]), cv2.COLOR_RGBA2BGRA))
    pic = read_picture(path)
    assert pic.rgb.dtype == np.uint8 and pic.rgb.shape == (8, 10, 3)
    assert np.array_equal(pic.rgb, ((rgb16.astype(np.uint32) + 128) // 257).astype(np.uint8))
    processed = pic.rgb.copy()
    processed[:, 5:] = 9  # the right half changed by an effect, the left half left as it was
    out, lost = pic.restore(processed, ".png")
    assert lost == [] and out.dtype == np.uint16 and out.shape == (8, 10, 4)
    assert np.array_equal(out[:, :5, :3], rgb16[:, :5])  # untouched pixels keep their exact 16-bit values
    assert np.all(out[:, 5:, :3] == 9 * 257) and np.all(out[..., 3] == 40000)
    out, lost = pic.restore(processed, ".webp")  # alpha yes, 16 bits no
    assert out.dtype == np.uint8 and out.shape == (8, 10, 4) and len(lost) == 1 and "16 bits" in lost[0]
    out, lost = pic.restore(processed, ".JPG")
    assert out.shape == (8, 10, 3) and len(lost) == 2 and "alpha" in lost[1]
    write_image(tmp_path / "o.png", pic.restore(processed, ".png")[0])
    again = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED)
    assert again.dtype == np.uint16 and again.shape == (8, 10, 4)


def test_plain_pictures_and_palette_transparency(tmp_path: Path) -> None:
    from segblur.media.images import read_picture

    path = tmp_path / "p.png"
    path.write_bytes(encoded(".png"))
    pic = read_picture(path)
    assert pic.alpha is None and pic.deep is None and np.array_equal(pic.rgb, sample())
    assert np.array_equal(pic.restore(sample(), ".jpg")[0], sample())
    rgba = np.dstack([sample(), np.full((24, 32), 128, np.uint8)])
    assert cv2.imwrite(str(tmp_path / "a.webp"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA),
                       [cv2.IMWRITE_WEBP_QUALITY, 101])  # lossless, with alpha
    assert np.all(read_picture(tmp_path / "a.webp").alpha == 128)


def test_libpng_says_nothing_of_its_own_about_a_corrupt_png(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    data = bytearray(encoded(".png", np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)))
    data[data.find(b"IDAT") + 20] ^= 0xFF  # damaged image data: libpng printed "libpng error: IDAT: CRC error"
    bad = tmp_path / "crc.png"
    bad.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"crc\.png: corrupt PNG file"):
        read_image(bad)
    print("after", file=sys.stderr)  # stderr works again afterwards
    assert capfd.readouterr().err == "after\n"
