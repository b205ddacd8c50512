"""Make docs/serve.png, the README's picture of ``segblur serve``: the page with the bundled sample photo dropped on it.

    PYTHONPATH=src python docs/serve_screenshot.py [-o docs/serve.png]

Needs Chromium, the playwright package and the onnxruntime-web files (make web), like the browser tests.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2

from segblur.assets import sample_path
from segblur.web import browser
from segblur.web.server import make_server, serve_in_thread


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("serve.png"))
    args = ap.parse_args()
    server = make_server(port=0)
    serve_in_thread(server)
    with browser.chromium() as chromium:
        page = browser.open_page(chromium, server.url + "?camera=0", viewport=(900, 560))
        page.wait_for_function("() => window.segblur.ready", timeout=300_000)
        browser.drop_file(page, sample_path(), "image/jpeg")
        browser.wait_frames(page, 1, "photo", timeout_s=300)
        for i in range(2, 8):  # a few redraws, so the timings shown are warm medians, not the first frame's
            page.evaluate("(v) => { const s = document.getElementById('strength'); s.value = v; "
                          "s.dispatchEvent(new Event('input')); }", "0.5" if i % 2 else "0.49")
            page.wait_for_function("(n) => window.segblur.stats.frames >= n", arg=i, timeout=300_000)
        with tempfile.TemporaryDirectory() as tmp:
            shot = Path(tmp) / "shot.png"
            page.screenshot(path=str(shot))
            img = cv2.imread(str(shot))
    server.shutdown()
    # Small: 3/4 size, and 256 colours where Pillow is installed (a third of the bytes, no visible loss).
    img = cv2.resize(img, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    try:
        from PIL import Image
    except ImportError:
        cv2.imwrite(str(args.output), img, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    else:
        Image.fromarray(img[..., ::-1]).quantize(256, dither=Image.Dither.NONE).save(args.output, optimize=True)
    print(f"{args.output}: {img.shape[1]}x{img.shape[0]}, {args.output.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
