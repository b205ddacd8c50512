"""The onnxruntime-web files the page loads: which ones, where they live, and how they get there.

They come from npm at build time (``package.json`` / ``package-lock.json`` at the repository root pin the version;
``make web`` runs ``npm ci`` and then this file as a script to copy them), into a git-ignored folder inside the package
so the page works offline and nothing is fetched from a CDN. Standard library only: the Makefile runs it with any
Python.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor" / "onnxruntime-web"

# The default bundle: WebGPU (JSEP) and the WASM CPU backend; one WebAssembly build serves both (SIMD, threads when the
# page is cross-origin isolated). segment.js imports ENTRY. The WebGL backend is left out: it refuses the models'
# symbolic batch dimension ("input tensor[0] check failed: expected shape '[,3,192,192]'", Chromium 150, ort 1.30.0).
ENTRY = "ort.min.mjs"
ORT_FILES: tuple[str, ...] = (ENTRY, "ort-wasm-simd-threaded.jsep.mjs", "ort-wasm-simd-threaded.jsep.wasm")
VERSION_FILE = "VERSION"


def missing() -> list[str]:
    """The onnxruntime-web files the page needs that are not installed (empty when the page can run)."""
    return [f for f in (*ORT_FILES, VERSION_FILE) if not (VENDOR / f).is_file()]


def version() -> str | None:
    """The installed onnxruntime-web version, or None."""
    try:
        return (VENDOR / VERSION_FILE).read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def missing_message() -> str:
    """One line saying what is missing and how to get it (npm, ``make web``)."""
    npm = shutil.which("npm")
    how = ("run `make web` in the source tree (npm ci, then copy)" if npm else
           "install Node.js with npm (not found on PATH), then run `make web` in the source tree")
    return (f"the page's onnxruntime-web files are not installed in {VENDOR} (missing: {', '.join(missing())}): "
            f"{how}")


def install(package_dir: str | Path) -> None:
    """Copy the page's files from an installed onnxruntime-web npm package (``node_modules/onnxruntime-web``)."""
    src = Path(package_dir)
    meta = json.loads((src / "package.json").read_text(encoding="utf-8"))
    shutil.rmtree(VENDOR, ignore_errors=True)  # no file of an older version stays behind
    VENDOR.mkdir(parents=True)
    for name in ORT_FILES:
        shutil.copyfile(src / "dist" / name, VENDOR / name)
    (VENDOR / VERSION_FILE).write_text(f"{meta['version']}\n", encoding="utf-8")


if __name__ == "__main__":  # python src/segblur/web/assets.py node_modules/onnxruntime-web
    if len(sys.argv) != 2:
        sys.exit("usage: assets.py NODE_MODULES/onnxruntime-web")
    install(sys.argv[1])
    print(f"web: onnxruntime-web {version()} -> {VENDOR}")
