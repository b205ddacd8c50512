"""How closely the page of ``segblur serve`` reproduces ``segblur image``: the sample photo through both, per model
and effect, compared pixel by pixel (mean absolute difference and maximum, in grey levels of 0..255).

    python benchmarks/web_parity.py [--image PHOTO] [--models ...] [--effects blur bokeh color]

The page runs in headless Chromium (onnxruntime-web, WebAssembly); ``segblur image`` runs the Python runtime with
ONNX Runtime. Both use each effect's default strength. Needs Chromium, playwright and the onnxruntime-web files.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from segblur.assets import sample_path
from segblur.cli.main import main as segblur
from segblur.media.images import read_image
from segblur.names import builtin_models
from segblur.web import browser
from segblur.web.server import make_server, serve_in_thread


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", type=Path, default=sample_path())
    ap.add_argument("--models", nargs="+", default=builtin_models())
    ap.add_argument("--effects", nargs="+", default=["blur", "bokeh", "color"])
    args = ap.parse_args(argv)
    mime = "image/png" if args.image.suffix.lower() == ".png" else "image/jpeg"
    server = make_server(port=0)
    serve_in_thread(server)
    rows = ["| model | effect | mean abs. difference | max |", "|---|---|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp, browser.chromium() as chromium:
        for model in args.models:
            for effect in args.effects:
                page = browser.open_page(chromium, f"{server.url}?camera=0&model={model}&effect={effect}")
                page.wait_for_function("() => window.segblur.ready", timeout=300_000)
                browser.drop_file(page, args.image, mime)
                browser.wait_frames(page, 1, "photo", timeout_s=300)
                out = browser.canvas_rgb(page)
                page.close()
                ref_path = Path(tmp) / f"{model}-{effect}.png"
                assert segblur(["image", str(args.image), "-o", str(ref_path), "--model", model,
                                "--effect", effect, "-q"]) == 0
                diff = np.abs(out.astype(int) - read_image(ref_path))
                rows.append(f"| {model} | {effect} | {diff.mean():.3f} | {diff.max()} |")
                print(rows[-1], flush=True)
    server.shutdown()
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
