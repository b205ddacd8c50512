"""The local web server of ``segblur serve``: the page, the models, and the metadata and rules the page follows.

Everything comes from the package itself (page, script, models, onnxruntime-web), so the page works offline. Every
response carries COOP/COEP headers: the page is then cross-origin isolated, which lets onnxruntime-web run its
WebAssembly backend on several threads (SharedArrayBuffer). ``GET api/config`` is the one JSON the page starts from:
the models with their metadata as :mod:`segblur.runtime.model` validates it, and the refinement, smoothing and effect
constants of the Python runtime, so the browser and ``segblur image`` follow the same rules from the same numbers.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import threading
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .. import __version__
from ..names import builtin_models
from . import assets

log = logging.getLogger("segblur")

# Effects the page offers (names as in segblur.names.EFFECTS), in menu order.
PAGE_EFFECTS: tuple[str, ...] = ("blur", "bokeh", "image", "color")

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def runtime_rules() -> dict[str, Any]:
    """The Python runtime's constants the page's compositing follows (read from the runtime, never copied)."""
    from ..runtime.compose import FLOOR
    from ..runtime.effects import EFFECTS, SolidColor
    from ..runtime.refine import RefineConfig
    from ..runtime.temporal import TemporalConfig

    effects: dict[str, dict[str, Any]] = {}
    for name in PAGE_EFFECTS:
        cls = EFFECTS[name]
        e: dict[str, Any] = {"default_strength": cls.default_strength}
        for attr in ("scale_factor", "low_sigma", "gamma"):
            if hasattr(cls, attr):
                e[attr] = getattr(cls, attr)
        effects[name] = e
    effects["color"]["color"] = list(SolidColor().color)
    refine = RefineConfig()
    return {"effects": effects, "floor": FLOOR,
            "refine": {k: getattr(refine, k) for k in ("threshold", "softness", "radius", "eps")},
            "temporal": dataclasses.asdict(TemporalConfig())}


@dataclasses.dataclass(frozen=True)
class ServedModel:
    """A model file the page can load: its menu name, URL path (under the site root) and validated metadata."""

    name: str
    path: Path
    url: str
    metadata: dict[str, Any]
    builtin: bool

    def entry(self) -> dict[str, Any]:
        return {"name": self.name, "url": self.url, "bytes": self.path.stat().st_size, "builtin": self.builtin,
                "metadata": self.metadata}


def load_models(model: str | Path = "default") -> tuple[list[ServedModel], str]:
    """The built-in models plus ``model`` when it is a file of its own; returns (models, the name selected first).

    Each file is opened with :class:`~segblur.runtime.model.OnnxModel`, so a model the Python runtime refuses is
    refused here too (:class:`~segblur.runtime.model.ModelError`, one line naming the file).
    """
    from ..runtime.model import OnnxModel, resolve_model_path

    wanted = resolve_model_path(model).resolve()
    served = []
    for name in builtin_models():
        m = OnnxModel(name, threads=1)
        served.append(ServedModel(name, m.path.resolve(), f"models/{name}.onnx", m.info.to_metadata(), True))
    chosen = next((m.name for m in served if m.path == wanted), None)
    if chosen is None:
        m = OnnxModel(wanted, threads=1)
        chosen = f"{wanted.name} (file)"
        served.append(ServedModel(chosen, wanted, f"models/file/{wanted.name}", m.info.to_metadata(), False))
    return served, chosen


class _Handler(SimpleHTTPRequestHandler):
    """Static files from the package's page folder, plus ``api/config`` and ``models/...``; no folder listings."""

    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript",
                      ".mjs": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream",
                      ".json": "application/json", ".css": "text/css", ".html": "text/html; charset=utf-8"}
    server: WebServer

    def end_headers(self) -> None:
        for k, v in ISOLATION_HEADERS.items():
            self.send_header(k, v)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        log.debug("web: %s %s", self.address_string(), format % args)

    def send_head(self):  # type: ignore[override]
        route = unquote(urlsplit(self.path).path)
        if route == "/api/config":
            return self._send_bytes(self.server.config_json, "application/json")
        model = self.server.model_files.get(route.lstrip("/"))
        if model is not None:
            return self._send_file(model)
        if route.startswith("/models/"):
            self.send_error(HTTPStatus.NOT_FOUND, "no such model")
            return None
        return super().send_head()

    def list_directory(self, path):  # type: ignore[override]
        self.send_error(HTTPStatus.NOT_FOUND, "no folder listings")
        return None

    def _send_bytes(self, data: bytes, ctype: str):
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return io.BytesIO(data)

    def _send_file(self, path: Path):
        try:
            f = open(path, "rb")  # noqa: SIM115 (SimpleHTTPRequestHandler copies and closes it)
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "model file is gone")
            return None
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(path.stat().st_size))
        self.end_headers()
        return f


class WebServer(ThreadingHTTPServer):
    """The page's HTTP server; ``url`` is where to open it. Serve with ``serve_forever()``, stop with ``shutdown()``."""

    daemon_threads = True

    def __init__(self, host: str, port: int, models: list[ServedModel], selected: str) -> None:
        config = {"version": __version__, "default_model": selected, "models": [m.entry() for m in models],
                  "onnxruntime_web": assets.version(), **runtime_rules()}
        self.config_json = json.dumps(config).encode()
        self.model_files = {m.url: m.path for m in models}
        super().__init__((host, port), partial(_Handler, directory=str(assets.STATIC)))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        return f"http://{shown}:{port}/"


class WebAssetsError(RuntimeError):
    """The onnxruntime-web files are not installed; the message (one line) says what is missing and how to get it."""


def make_server(host: str = "127.0.0.1", port: int = 8000, model: str | Path = "default") -> WebServer:
    """A ready (bound, not yet serving) server for the page; port 0 picks a free port.

    Raises :class:`WebAssetsError` without the onnxruntime-web files, ``ModelError`` for a bad model and
    ``OSError`` when the address cannot be bound.
    """
    if assets.missing():
        raise WebAssetsError(assets.missing_message())
    models, selected = load_models(model)
    return WebServer(host, port, models, selected)


def serve_in_thread(server: WebServer) -> threading.Thread:
    """Serve in a daemon thread (tests, benchmarks); ``server.shutdown()`` stops it."""
    t = threading.Thread(target=server.serve_forever, name="segblur-web", daemon=True)
    t.start()
    return t


__all__ = ["PAGE_EFFECTS", "WebAssetsError", "WebServer", "load_models", "make_server",
           "runtime_rules", "serve_in_thread"]
