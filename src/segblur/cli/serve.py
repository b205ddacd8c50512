"""``segblur serve``: a local web page that blurs the webcam or a dropped photo/video in the browser."""

from __future__ import annotations

import argparse

from ..names import DEFAULT_MODEL
from .common import int_in

ORDER = 35


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add the ``serve`` subcommand."""
    p = sub.add_parser(
        "serve", help="a local web page: background blur of the webcam or a dropped photo/video, in the browser",
        description="Serve one page that runs the same ONNX models in the browser (onnxruntime-web: WebAssembly "
        "with SIMD and threads, WebGPU where available): the webcam, or a photo or video dropped on the page, "
        "with effect (blur, bokeh, picture, colour), strength, model and mirror controls, and live fps and "
        "inference milliseconds. The page, its script, the models and onnxruntime-web are all served from the "
        "installed package, so it works offline. Browsers allow the camera only on localhost (or https). "
        "Stop with Ctrl-C.")
    p.add_argument("--port", type=int_in(0, 65535), default=8000, help="TCP port (default 8000; 0: any free port)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1, this machine only; 0.0.0.0 for the network, "
                   "where browsers refuse the camera over plain http)")
    p.add_argument("--model", default="default",
                   help="model selected when the page opens: a built-in name or an .onnx file, which is then "
                   f"served beside the built-in ones (default: {DEFAULT_MODEL})")
    p.add_argument("--open", action="store_true", help="open the page in the default web browser")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Start the server and serve until stopped; 2 when it cannot start.

    Ctrl-C, SIGTERM and SIGHUP end it as they end every command (``cli.main``: one line, exit 128 + the signal).
    """
    import sys

    from ..io import one_line
    from ..runtime.model import ModelError
    from ..web.server import WebAssetsError, make_server
    from .common import CommandError

    try:
        server = make_server(args.host, args.port, args.model)
    except (WebAssetsError, ModelError) as e:
        raise CommandError(str(e)) from None
    except OSError as e:
        raise CommandError(f"cannot listen on {args.host}:{args.port} ({one_line(e)}); "
                           "choose another --port or --host") from None
    print(f"segblur: serving {server.url} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()  # only a signal ends it: the KeyboardInterrupt goes on to cli.main
    finally:
        server.server_close()
    return 0
