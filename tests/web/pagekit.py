"""Fixtures and checks shared by the web page's tests: the page's server, headless Chromium with a fake camera.

Test modules import the fixtures they use from here. Browser tests need Debian's Chromium, the playwright package (dev
extra) and the onnxruntime-web files (`make web`); without them they are skipped with the reason. CI sets
SEGBLUR_REQUIRE_BROWSER=1, which turns such a skip into a failure.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from segblur.web import assets

REQUIRED = os.environ.get("SEGBLUR_REQUIRE_BROWSER") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip (a developer's machine), or fail when CI requires the browser tests to run."""
    if REQUIRED:
        pytest.fail(f"SEGBLUR_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


def need_node() -> str:
    node = shutil.which("node")
    if node is None:
        skip_or_fail("Node.js (node) is not installed: the page's compositing cannot be run outside a browser")
    return node


def need_browser() -> None:
    from segblur.web.browser import find_chromium

    if find_chromium() is None:
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        skip_or_fail("the playwright package is not installed (pip install -e '.[dev]')")
    if assets.missing():
        skip_or_fail(assets.missing_message())


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    """The page's server on a free port, serving in a thread."""
    if assets.missing():
        skip_or_fail(assets.missing_message())
    from segblur.web.server import make_server, serve_in_thread

    srv = make_server(port=0)
    serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def camera_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Y4M clip for the fake camera: the bundled astronaut (public domain) framed at 640x480, still, 1 s at 30 fps."""
    from segblur.bench.run import make_frame
    from segblur.web.browser import write_y4m

    return write_y4m(tmp_path_factory.mktemp("camera") / "astronaut.y4m", [make_frame((640, 480))] * 30)


@pytest.fixture(scope="module")
def playwright() -> Iterator[Any]:
    """One Playwright per module (its sync API does not nest), for every browser the module starts."""
    need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def chromium(playwright: Any, camera_clip: Path) -> Iterator[Any]:
    """Headless Chromium whose camera plays ``camera_clip``, the permission granted."""
    from segblur.web.browser import launch

    browser = launch(playwright, camera_clip)
    yield browser
    browser.close()
