"""segblur.io: the one check that an output never replaces an input, and the clean-up of killed runs' temp files."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_naming

from segblur import io


def test_an_output_that_is_an_input_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "m.onnx"
    model.write_bytes(b"model")
    for out in (model, tmp_path / "." / "m.onnx", str(model)):
        with pytest.raises(io.OverwriteError) as ei:
            io.check_output(out, [None, model])
        assert_one_line_naming(str(ei.value), out)
    link = tmp_path / "link.onnx"
    link.symlink_to(model)
    hard = tmp_path / "hard.onnx"
    os.link(model, hard)
    for out in (link, hard):  # another name of the same file
        with pytest.raises(io.OverwriteError):
            io.check_output(out, [model])
    io.check_output(tmp_path / "other.onnx", [model, None])  # anything else is fine


def test_an_output_inside_an_input_folder_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "ds"
    (data / "masks").mkdir(parents=True)
    for out in (data / "masks", data / "report.json", data / "new" / "deeper.png"):
        with pytest.raises(io.OverwriteError, match="inside the input folder"):
            io.check_output(out, [data])
    io.check_output(tmp_path / "ds-predictions", [data])  # a sibling whose name starts the same is not inside
    io.check_output(tmp_path / "out", [tmp_path / "missing-folder"])


def test_a_source_may_hold_the_output_folder_but_never_be_the_output(tmp_path: Path) -> None:
    """The photos and videos a command works through: -o may not name one, but may be a folder inside a source folder
    (the command skips it when reading the folder), unlike a data folder."""
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(b"x")
    for out, given in ((photos, photos), (tmp_path / "." / "photos" / "a.png", photos / "a.png")):
        with pytest.raises(io.OverwriteError, match="is the input"):
            io.check_output(out, [], sources=[given])
    io.check_output(photos / "blurred", [], sources=[photos])
    with pytest.raises(io.OverwriteError, match="inside the input folder"):
        io.check_output(photos / "blurred", [photos], sources=[photos])


def test_an_output_under_an_input_file_is_refused(tmp_path: Path) -> None:
    """-o clip.mp4/out.mp4: no file can be written there; said as an output problem naming the input."""
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"video")
    for out in (clip / "out.mp4", clip / "frames" / "000001.png"):
        for kw in ({"inputs": [clip]}, {"inputs": [], "sources": [clip]}):
            with pytest.raises(io.OverwriteError, match="lies under the input file") as ei:
                io.check_output(out, **kw)
            assert_one_line_naming(str(ei.value), out)


def test_split_repeats_keeps_the_first_spelling_of_each_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.mp4").write_bytes(b"a")
    (tmp_path / "link.mp4").symlink_to(tmp_path / "a.mp4")
    kept, repeats = io.split_repeats(["a.mp4", "b.mp4", "./a.mp4", str(tmp_path / "link.mp4"), "b.mp4"])
    assert kept == ["a.mp4", "b.mp4"]
    assert repeats == [("./a.mp4", "a.mp4"), (str(tmp_path / "link.mp4"), "a.mp4"), ("b.mp4", "b.mp4")]
    pairs = [(Path("a.mp4"), "x"), (Path("./a.mp4"), "y")]
    assert io.split_repeats(pairs, lambda p: p[0]) == ([pairs[0]], [(pairs[1], pairs[0])])


def test_thread_refused_knows_the_systems_refusals_and_nothing_else() -> None:
    import errno

    assert io.thread_refused(RuntimeError("can't start new thread"))
    assert io.thread_refused(BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"))
    assert not io.thread_refused(RuntimeError("something else"))
    assert not io.thread_refused(OSError(errno.EIO, "Input/output error"))
    assert not io.thread_refused(ValueError("can't start new thread"))
    assert not io.thread_refused(BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable", "x.lock"))


def test_an_unusable_output_name_is_left_to_the_writer(tmp_path: Path) -> None:
    io.check_output(tmp_path / ("n" * 300 + ".png"), [tmp_path / "m.onnx"])  # ENAMETOOLONG: not an overwrite


def _temp(folder: Path, age_s: float, name: str | None = None) -> Path:
    p = folder / (name or f"{io.TEMP_PREFIX}{os.urandom(4).hex()}{io.TEMP_SUFFIX}")
    p.write_bytes(b"half-written")
    t = time.time() - age_s
    os.utime(p, (t, t))
    return p


def test_stale_temp_files_of_killed_runs_are_removed_and_nothing_else(tmp_path: Path) -> None:
    old = _temp(tmp_path, io.STALE_AFTER_S + 60)
    fresh = _temp(tmp_path, 5)  # a run writing there now
    foreign = [_temp(tmp_path, io.STALE_AFTER_S + 60, n) for n in
               (".segblur-xyz.tmp", ".segblur-0123abcd.tmp.bak", "segblur-0123abcd.tmp", ".other-0123abcd.tmp")]
    with open(_temp(tmp_path, io.STALE_AFTER_S + 60), "rb") as held:  # old but open: a writer that paused
        removed = io.remove_stale_temps(tmp_path)
        assert removed == [old]
        assert Path(held.name).exists()
    assert not old.exists() and fresh.exists() and all(p.exists() for p in foreign)


def test_stale_temp_folders_of_killed_runs_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A frame folder's temp folder (``segblur mask VIDEO -o DIR``) that a killed run left is swept like a file; a
    fresh one, being written now, is not."""
    monkeypatch.setattr(io, "_swept", set())
    old, fresh = io.make_temp_folder(tmp_path / "frames"), io.make_temp_folder(tmp_path / "frames")
    (old / "000001.png").write_bytes(b"png")
    t = time.time() - io.STALE_AFTER_S - 60
    os.utime(old, (t, t))
    assert old.parent == tmp_path and old.name.startswith(io.TEMP_PREFIX) and old != fresh
    assert io.remove_stale_temps(tmp_path) == [old]
    assert not old.exists() and fresh.is_dir()


def test_one_line_gives_a_yaml_error_its_line_and_column() -> None:
    yaml = pytest.importorskip("yaml")
    with pytest.raises(yaml.YAMLError) as ei:
        yaml.safe_load("a: 1\nb: [2, 3\n")
    line = io.one_line(ei.value)
    assert line.startswith("line 3, column 1: ") and "expected ',' or ']'" in line, line


def test_the_first_write_to_a_folder_cleans_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(io, "_swept", set())
    old = _temp(tmp_path, io.STALE_AFTER_S + 60)
    io.write_atomic(tmp_path / "out.bin", b"x")
    assert not old.exists()
    again = _temp(tmp_path, io.STALE_AFTER_S + 60)
    io.write_atomic(tmp_path / "out.bin", b"y")  # once per folder and process: no scan on every write
    assert again.exists()


@pytest.mark.parametrize("how", ["write_atomic", "temp_file"])
def test_an_interrupt_just_after_the_temp_file_is_made_leaves_nothing(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      how: str) -> None:
    """Ctrl-C or SIGTERM landing between the temp file's creation and open_temp's return (a stopped training run
    saving a checkpoint left one behind): the name was tracked before the file existed, so it is removed."""
    real_open = os.open

    def open_then_interrupt(path, flags, mode=0o777):
        os.close(real_open(path, flags, mode))  # the file now exists ...
        raise KeyboardInterrupt  # ... and the signal lands before the caller has the descriptor

    monkeypatch.setattr(io.os, "open", open_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        if how == "write_atomic":
            io.write_atomic(tmp_path / "out.bin", b"x")
        else:
            with io.temp_file(tmp_path / "work.onnx"):
                pass
    assert list(tmp_path.iterdir()) == []


def test_in_the_way_says_why_an_output_cannot_be_written(tmp_path: Path) -> None:
    """One wording for every command's up-front output check: a folder where a file goes, a file above it."""
    (tmp_path / "afile").write_text("x")
    (tmp_path / "dir").mkdir()
    assert io.in_the_way(tmp_path / "new" / "out.json", folder=False) is None
    assert io.in_the_way(tmp_path / "new" / "run", folder=True) is None
    assert io.in_the_way(tmp_path / "dir", folder=False) == f"{tmp_path / 'dir'}: is a folder, not a file"
    assert io.in_the_way(tmp_path / "afile", folder=True) == f"{tmp_path / 'afile'}: is a file, not a folder"
    under = tmp_path / "afile" / "x" / "y.png"
    for folder in (False, True):
        assert io.in_the_way(under, folder) == f"{under}: {tmp_path / 'afile'} is a file, not a folder"
