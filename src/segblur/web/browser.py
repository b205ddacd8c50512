"""Drive the page in headless Chromium: a fake camera fed from a clip, dropped files, canvas pixels, the live stats.

Used by the browser tests (tests/web) and the page benchmark (benchmarks/web_speed.py). It needs the system's Chromium
(Debian: ``apt-get install chromium``) and the ``playwright`` Python package (the ``dev`` extra), which drives that
browser; nothing here downloads a browser.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

# Headless on a machine without a GPU or a network: no sandbox (root in containers), no GPU, no background traffic.
CHROMIUM_FLAGS: tuple[str, ...] = ("--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                                   "--disable-background-networking", "--disable-component-update", "--disable-sync")


def find_chromium() -> str | None:
    """The Chromium executable: $SEGBLUR_CHROMIUM, else chromium or chromium-browser on PATH; None if there is none."""
    env = os.environ.get("SEGBLUR_CHROMIUM")
    if env:
        return env if Path(env).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def write_y4m(path: str | Path, frames: Sequence[np.ndarray], fps: int = 30) -> Path:
    """A Y4M clip (4:2:0) of RGB uint8 frames for Chromium's fake camera; sides are cropped to even sizes."""
    h, w = (s - s % 2 for s in frames[0].shape[:2])
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(np.ascontiguousarray(rgb[:h, :w]), cv2.COLOR_RGB2YUV_I420).tobytes())
    return Path(path)


def decode_data_url(url: str) -> np.ndarray:
    """A ``data:image/png;base64,...`` URL (canvas.toDataURL) -> RGB uint8."""
    data = np.frombuffer(base64.b64decode(url.split(",", 1)[1]), np.uint8)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def launch(playwright: Any, camera_clip: str | Path | None = None, grant_camera: bool = True,
           executable: str | None = None) -> Any:
    """A headless Chromium (Playwright ``Browser``, the caller closes it) with a fresh profile, started by a running
    ``sync_playwright()``; ``camera_clip`` is a Y4M the fake camera plays. ``grant_camera=False`` leaves the camera
    permission unanswered, which headless Chromium treats as a denial."""
    exe = executable or find_chromium()
    if exe is None:
        raise FileNotFoundError("Chromium not found (apt-get install chromium, or set SEGBLUR_CHROMIUM)")
    args = list(CHROMIUM_FLAGS)
    if camera_clip is not None:
        args += ["--use-fake-device-for-media-stream", f"--use-file-for-fake-video-capture={camera_clip}"]
    if grant_camera:
        args.append("--use-fake-ui-for-media-stream")
    return playwright.chromium.launch(executable_path=exe, args=args, headless=True)


@contextlib.contextmanager
def chromium(camera_clip: str | Path | None = None, grant_camera: bool = True) -> Iterator[Any]:
    """:func:`launch` with its own Playwright, closed on exit (one per thread: Playwright's sync API does not nest)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch(p, camera_clip, grant_camera)
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, url: str, viewport: tuple[int, int] = (1100, 640)) -> Any:
    """A new page at ``url`` (Playwright ``Page``); its console errors are kept in ``page.segblur_console`` and the
    addresses it requested in ``page.segblur_requests``."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    page.segblur_console = []
    page.segblur_requests = []
    page.on("request", lambda r: page.segblur_requests.append(r.url))
    page.on("console", lambda m: m.type in ("error", "warning") and page.segblur_console.append(m.text))
    page.on("pageerror", lambda e: page.segblur_console.append(str(e)))
    page.goto(url)
    return page


def stats(page: Any) -> dict[str, Any]:
    """The page's live figures (fps, inferenceMs, frameMs, frames, backend, threads, simd, ...)."""
    return page.evaluate("() => ({...window.segblur.stats})")


def error(page: Any) -> dict[str, str] | None:
    """The message the page shows ({text, kind}) or None."""
    return page.evaluate("() => window.segblur.error")


def wait_frames(page: Any, frames: int = 1, source: str | None = None, timeout_s: float = 60.0) -> dict[str, Any]:
    """Wait until the page has drawn ``frames`` frames (of ``source``: camera, video, photo) with a model; returns the
    stats. Raises RuntimeError as soon as the page shows a message instead (a model or camera failure)."""
    done = ("([n, src]) => window.segblur.stats.frames >= n && (!src || window.segblur.stats.source === src)"
            " && !!window.segblur.stats.model")
    failed = "() => window.segblur.error && window.segblur.error.kind !== 'process'"
    page.wait_for_function(f"(arg) => window.segblur && (({done})(arg) || ({failed})())", arg=[frames, source],
                           timeout=timeout_s * 1000)
    if not page.evaluate(f"({done})", [frames, source]):
        raise RuntimeError(f"the page shows a message instead of frames: {error(page)}")
    return stats(page)


def wait_message(page: Any, timeout_s: float = 30.0) -> dict[str, str]:
    """Wait for the page to show a message; returns it ({text, kind})."""
    page.wait_for_function("() => window.segblur && window.segblur.error", timeout=timeout_s * 1000)
    return error(page)


def canvas_rgb(page: Any) -> np.ndarray:
    """The result canvas's pixels, RGB uint8 (what the page drew, before any CSS mirroring)."""
    return decode_data_url(page.evaluate("() => document.getElementById('out').toDataURL('image/png')"))


def input_rgb(page: Any) -> np.ndarray:
    """The last frame the page processed, as it read it (RGB uint8)."""
    url = page.evaluate("() => window.segblur.inputDataURL()")
    if url is None:
        raise RuntimeError("the page has not processed a frame yet")
    return decode_data_url(url)


def drop_file(page: Any, path: str | Path, mime: str) -> None:
    """Drop a file on the page, as a user dragging it from a file manager does (a DataTransfer with one File)."""
    p = Path(path)
    data = base64.b64encode(p.read_bytes()).decode()
    page.evaluate(
        """([b64, name, type]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type }));
            const target = document.getElementById('stage');
            for (const ev of ['dragenter', 'dragover', 'drop'])
                target.dispatchEvent(new DragEvent(ev, { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""", [data, p.name, mime])
