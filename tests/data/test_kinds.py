"""Dataset specs: bad specs, the list of kinds, and the torch-free core."""

from __future__ import annotations

from pathlib import Path

import pytest

from segblur.data import (
    DATASET_KINDS,
    DatasetError,
    open_dataset,
)


@pytest.mark.parametrize(("spec", "message"), [
    ("nope:/x", "bad dataset spec"),
    ("/some/where", "bad dataset spec"),
    ("voc:", "no path after 'voc:'"),
    ("lfw:{tmp}/missing", "{tmp}/missing: no such folder"),
    ("folder:{tmp}/file.txt", "{tmp}/file.txt: not a folder"),
    ("folder:{tmp}", "{tmp}: not an image folder dataset"),
])
def test_bad_specs(tmp_path: Path, spec: str, message: str) -> None:
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(DatasetError) as err:
        open_dataset(spec.format(tmp=tmp_path))
    assert message.format(tmp=tmp_path) in str(err.value)
    assert "\n" not in str(err.value)


def test_kinds() -> None:
    assert DATASET_KINDS == ("voc", "lfw", "folder", "person")


def test_core_is_torch_free() -> None:
    import subprocess
    import sys

    code = "import sys, segblur.data; sys.exit('torch' in sys.modules or 'segblur.training' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
