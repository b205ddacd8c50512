"""``segblur serve``'s server without a browser: what it serves, its headers, and its refusals."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest
from conftest import assert_one_line_naming, build_model

from segblur.cli.main import build_parser, main
from segblur.names import DEFAULT_MODEL, builtin_models
from segblur.runtime.model import OnnxModel
from segblur.web import assets, server


def get(url: str) -> tuple[int, Message, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module):
    """A server on a free port (vendor files faked when not installed: these tests need no browser)."""
    if assets.missing():
        fake = tmp_path_factory.mktemp("vendor")
        for name in (*assets.ORT_FILES, assets.VERSION_FILE):
            (fake / name).write_text("0.0.0-test\n")
        monkeypatch_module.setattr(assets, "VENDOR", fake)
    srv = server.make_server(port=0)
    server.serve_in_thread(srv)
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_config_carries_each_builtin_model_with_the_runtime_metadata_and_rules(live) -> None:
    status, headers, body = get(live.url + "api/config")
    assert status == 200 and headers["Content-Type"] == "application/json"
    config = json.loads(body)
    assert config["default_model"] == DEFAULT_MODEL
    assert [m["name"] for m in config["models"]] == builtin_models()
    for m in config["models"]:
        assert m["metadata"] == OnnxModel(m["name"]).info.to_metadata()  # the same parse as the Python runtime
        status, _, data = get(live.url + m["url"])
        assert status == 200 and len(data) == m["bytes"]
    assert config["refine"] == {"threshold": 0.5, "softness": 0.5, "radius": 2, "eps": 1e-3}
    assert set(config["effects"]) == set(server.PAGE_EFFECTS)
    assert config["effects"]["blur"]["scale_factor"] == 0.05 and config["effects"]["color"]["color"] == [0, 177, 64]
    assert config["temporal"]["rise"] == 0.7


def test_every_response_isolates_the_page_so_wasm_threads_can_run(live) -> None:
    for path in ("", "app.js", "api/config", "models/person-fast.onnx", "no-such-file"):
        _, headers, _ = get(live.url + path)
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"


def test_page_script_and_wasm_types(live) -> None:
    status, headers, body = get(live.url)
    assert status == 200 and b'src="app.js"' in body and headers["Content-Type"].startswith("text/html")
    files = [("app.js", "text/javascript"), ("style.css", "text/css")]
    if assets.VENDOR == assets.STATIC / "vendor" / "onnxruntime-web":  # installed (not faked by `live`)
        files += [(f"vendor/onnxruntime-web/{assets.ENTRY}", "text/javascript"),
                  ("vendor/onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm", "application/wasm")]
    for name, ctype in files:
        status, headers, _ = get(live.url + name)
        assert (status, headers["Content-Type"]) == (200, ctype), name


def test_no_listings_no_escapes_no_unknown_models(live) -> None:
    assert get(live.url + "vendor/")[0] == 404
    assert get(live.url + "../../../../etc/passwd")[0] == 404
    assert get(live.url + "%2e%2e/%2e%2e/server.py")[0] == 404
    assert get(live.url + "models/nope.onnx")[0] == 404


def test_a_model_file_of_ones_own_is_served_beside_the_builtin_ones(tmp_path: Path, live) -> None:
    path = build_model(tmp_path / "mine.onnx")
    models, selected = server.load_models(path)
    assert selected == "mine.onnx (file)"
    assert [m.name for m in models] == [*builtin_models(), selected]
    assert models[-1].url == "models/file/mine.onnx" and models[-1].metadata["name"] == "tiny"
    assert server.load_models("person-fast-int8")[1] == "person-fast-int8"


def test_serve_help_names_the_options() -> None:
    text = build_parser()._subparsers._group_actions[0].choices["serve"].format_help()
    for option in ("--port", "--host", "--model", "--open"):
        assert option in text


def test_serve_refuses_a_bad_model_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(["serve", "--port", "0", "--model", str(bad)]) == 2
    err = capsys.readouterr().err
    assert_one_line_naming(err.strip(), bad)


def test_serve_refuses_a_busy_port_in_one_line(capsys: pytest.CaptureFixture[str], monkeypatch_module) -> None:
    if assets.missing():
        pytest.skip("needs the vendor files to get as far as binding")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert_one_line_naming(err, str(port))
    assert "--port" in err


def test_serve_without_the_onnxruntime_web_files_says_what_is_missing_and_how_to_get_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(assets, "VENDOR", tmp_path / "vendor")
    monkeypatch.setattr("shutil.which", lambda name: None)
    assert main(["serve", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert_one_line_naming(err, tmp_path / "vendor")
    assert assets.ENTRY in err and "npm" in err and "make web" in err


def test_install_copies_the_pinned_files_from_the_npm_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "node_modules" / "onnxruntime-web"
    (pkg / "dist").mkdir(parents=True)
    (pkg / "package.json").write_text('{"name": "onnxruntime-web", "version": "9.9.9"}')
    for name in assets.ORT_FILES:
        (pkg / "dist" / name).write_text(name)
    monkeypatch.setattr(assets, "VENDOR", tmp_path / "vendor")
    assert assets.missing() == [*assets.ORT_FILES, assets.VERSION_FILE]
    assets.install(pkg)
    assert assets.missing() == [] and assets.version() == "9.9.9"
    assert (tmp_path / "vendor" / assets.ENTRY).read_text() == assets.ENTRY


def test_the_lockfile_pins_the_version_the_page_loads() -> None:
    repo = Path(__file__).resolve().parents[2]
    lock = json.loads((repo / "package-lock.json").read_text())
    pinned = json.loads((repo / "package.json").read_text())["dependencies"]["onnxruntime-web"]
    assert lock["packages"]["node_modules/onnxruntime-web"]["version"] == pinned
    installed = assets.STATIC / "vendor" / "onnxruntime-web" / assets.VERSION_FILE
    if installed.is_file():
        assert installed.read_text().strip() == pinned
    app = (assets.STATIC / "segment.js").read_text()
    assert f"./vendor/onnxruntime-web/{assets.ENTRY}" in app
