"""Fetch the two MediaPipe teacher models for ``segblur label`` into .cache/teachers/ (stdlib, npm and pip only).

- ``pose_landmark_heavy.tflite`` from the npm package ``@mediapipe/pose@0.5.1675469404`` (Apache-2.0), via
  ``npm pack`` (downloads the tarball, installs nothing);
- ``selfie_segmentation.tflite`` from the ``mediapipe==0.10.21`` wheel (Apache-2.0), via pip download, as
  ``fetch_reference.py`` does for the benchmark reference.

Each file is checked against the sha256 pinned here, and ``SHA256SUMS`` is written beside them. Run once, by the
training recipe; segblur never downloads models at run time or in tests.

    python benchmarks/fetch_teachers.py [--dest .cache/teachers]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fetch_reference  # noqa: E402  (the wheel download lives there once)

POSE_PACKAGE = "@mediapipe/pose@0.5.1675469404"
POSE_MEMBER = "package/pose_landmark_heavy.tflite"
# name -> (sha256, where it comes from, licence)
TEACHERS = {
    "pose_landmark_heavy.tflite": ("59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe",
                                   f"npm {POSE_PACKAGE}", "Apache-2.0"),
    "selfie_segmentation.tflite": ("9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
                                   f"PyPI mediapipe=={fetch_reference.MEDIAPIPE_VERSION}", "Apache-2.0"),
}
DEFAULT_DEST = Path(".cache/teachers")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _install(src: Path, dest: Path, name: str) -> Path:
    """Check ``src`` against the pinned sha256, then move it to ``dest/name`` atomically."""
    want = TEACHERS[name][0]
    got = sha256(src)
    if got != want:
        raise fetch_reference.FetchError(f"{name}: sha256 {got} differs from the pinned {want}")
    target = dest / name
    tmp = dest / f".{name}.part"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


def fetch_pose(dest: Path) -> Path:
    """``npm pack`` the pinned @mediapipe/pose package and take the heavy landmark model out of it."""
    if shutil.which("npm") is None:
        raise fetch_reference.FetchError("npm not found (needed for the pose teacher)")
    with tempfile.TemporaryDirectory(prefix="mediapipe-pose-") as tmp:
        res = subprocess.run(["npm", "pack", POSE_PACKAGE, "--silent", "--pack-destination", tmp],
                             check=False, capture_output=True, text=True)
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if res.returncode != 0 or not tarballs:
            lines = (res.stderr or res.stdout).strip().splitlines()
            why = lines[-1] if lines else f"exit status {res.returncode}"
            raise fetch_reference.FetchError(f"npm pack {POSE_PACKAGE} failed: {why}")
        with tarfile.open(tarballs[0]) as tf:
            member = tf.extractfile(POSE_MEMBER)
            if member is None:
                raise fetch_reference.FetchError(f"{POSE_MEMBER} not found in {tarballs[0].name}")
            out = Path(tmp) / "model.tflite"
            out.write_bytes(member.read())
        return _install(out, dest, "pose_landmark_heavy.tflite")


def fetch_selfie(dest: Path) -> Path:
    """The selfie model from the pinned mediapipe wheel (fetch_reference's download)."""
    with tempfile.TemporaryDirectory(prefix="mediapipe-wheel-") as tmp:
        fetch_reference.fetch(Path(tmp))
        return _install(Path(tmp) / "selfie_segmentation.tflite", dest, "selfie_segmentation.tflite")


def fetch(dest: Path = DEFAULT_DEST) -> list[Path]:
    """Make sure both teachers are in ``dest`` with their pinned hashes; write SHA256SUMS; return their paths."""
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, get in (("pose_landmark_heavy.tflite", fetch_pose), ("selfie_segmentation.tflite", fetch_selfie)):
        path = dest / name
        paths.append(path if path.is_file() and sha256(path) == TEACHERS[name][0] else get(dest))
    (dest / "SHA256SUMS").write_text("".join(f"{TEACHERS[p.name][0]}  {p.name}\n" for p in paths))  # sha256sum -c
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: fetch the teachers and print their paths."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"cache folder (default {DEFAULT_DEST}/)")
    args = ap.parse_args(argv)
    try:
        paths = fetch(args.dest)
    except (fetch_reference.FetchError, OSError, tarfile.TarError) as exc:
        print(f"fetch_teachers: error: {exc}", file=sys.stderr)
        return 1
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
