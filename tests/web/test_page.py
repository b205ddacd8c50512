"""The page in headless Chromium: a fake camera playing a photo of a person, dropped files, and what goes wrong.

The camera is Chromium's fake device fed from a Y4M clip of the bundled astronaut photo; the canvas pixels are read
back and checked against the mask `segblur mask` gives for the very frame the page processed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from pagekit import camera_clip, chromium, playwright, server  # noqa: F401 (fixtures)

from segblur.assets import sample_path
from segblur.cli.main import main
from segblur.media.images import read_image, write_image
from segblur.names import DEFAULT_MODEL
from segblur.web import browser


def segblur(*argv: str | Path) -> None:
    assert main([str(a) for a in argv]) == 0


def mask_of(frame: np.ndarray, tmp: Path) -> np.ndarray:
    """`segblur mask` of a frame: True where the person is."""
    write_image(tmp / "frame.png", frame)
    segblur("mask", tmp / "frame.png", "-o", tmp / "masks", "-q")
    return cv2.imread(str(tmp / "masks" / "frame.png"), cv2.IMREAD_GRAYSCALE) > 127


def core(mask: np.ndarray, margin: int) -> np.ndarray:
    """The part of a mask at least ``margin`` pixels away from its edge."""
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0


def detail(rgb: np.ndarray, where: np.ndarray) -> float:
    """Mean absolute Laplacian of the grey image over ``where``: fine detail, which a blur removes."""
    lap = cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32), cv2.CV_32F)
    return float(np.abs(lap)[where].mean())


def page_at(chromium, server, query: str = ""):  # noqa: F811 (fixtures)
    return browser.open_page(chromium, server.url + query)


def test_camera_frames_have_the_background_blurred_and_the_person_sharp(chromium, server, tmp_path) -> None:  # noqa: F811
    page = page_at(chromium, server)
    stats = browser.wait_frames(page, 12, "camera", timeout_s=180)
    assert browser.error(page) is None
    frame, out = browser.input_rgb(page), browser.canvas_rgb(page)
    assert frame.shape == out.shape == (480, 640, 3)
    person = mask_of(frame, tmp_path)
    assert 0.15 < person.mean() < 0.8, "the mask should find the astronaut"
    inside, outside = core(person, 12), core(~person, 24)
    assert inside.sum() > 5000 and outside.sum() > 5000
    # The person is left as it is; the background loses most of its fine detail (and is not simply replaced).
    assert np.abs(out.astype(int) - frame)[inside].mean() < 3
    assert detail(out, outside) < 0.4 * detail(frame, outside)
    assert np.abs(out.astype(int) - frame)[outside].mean() > 3
    assert abs(out[outside].mean() - frame[outside].mean()) < 10  # blurred, same colours
    # Live figures: reported on the page and in the stats the page exposes.
    assert stats["fps"] > 0 and stats["inferenceMs"] > 0 and stats["frameMs"] >= stats["inferenceMs"]
    assert stats["backend"] == "wasm" and stats["isolated"] and stats["threads"] >= 1 and stats["simd"]
    text = page.text_content("#stats")
    assert "fps" in text and "inference" in text and DEFAULT_MODEL in text
    assert page.evaluate("document.getElementById('out').classList.contains('mirror')")  # a camera is mirrored
    # Everything came from segblur serve itself: the page works offline.
    assert page.segblur_requests and all(u.startswith((server.url, "data:", "blob:")) for u in page.segblur_requests)
    assert any("ort-wasm-simd-threaded" in u for u in page.segblur_requests)
    page.close()


def test_a_dropped_photo_looks_like_segblur_image_of_it(chromium, server, tmp_path) -> None:  # noqa: F811
    page = page_at(chromium, server, "?camera=0")
    page.wait_for_function("() => window.segblur.ready", timeout=120_000)
    browser.drop_file(page, sample_path(), "image/jpeg")
    browser.wait_frames(page, 1, "photo", timeout_s=120)
    out = browser.canvas_rgb(page)
    assert np.array_equal(browser.input_rgb(page), read_image(sample_path()))  # the page read the same pixels
    segblur("image", sample_path(), "-o", tmp_path / "ref.png", "-q")
    ref = read_image(tmp_path / "ref.png")
    diff = np.abs(out.astype(int) - ref)
    print(f"page vs segblur image on the sample photo: mean absolute difference {diff.mean():.3f}, max {diff.max()}")
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 3

    # Another effect is drawn again at once, still from the same photo.
    page.select_option("#effect", "color")
    page.wait_for_function("() => window.segblur.stats.frames >= 2")
    green = browser.canvas_rgb(page)
    person = mask_of(read_image(sample_path()), tmp_path)
    assert np.abs(green[core(~person, 8)].astype(int) - (0, 177, 64)).mean() < 2
    page.close()


def test_a_dropped_video_plays_through_the_pipeline(chromium, server, tmp_path) -> None:  # noqa: F811
    av = pytest.importorskip("av", reason="PyAV (the video extra) writes the test clip")
    from segblur.bench.run import make_frame

    clip = tmp_path / "clip.webm"
    frame = make_frame((320, 240))
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(20):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.roll(frame, i, axis=1), format="rgb24")))
        out.mux(stream.encode())
    page = page_at(chromium, server, "?camera=0")
    page.wait_for_function("() => window.segblur.ready", timeout=120_000)
    browser.drop_file(page, clip, "video/webm")
    stats = browser.wait_frames(page, 5, "video", timeout_s=120)
    assert (stats["width"], stats["height"]) == (320, 240) and browser.error(page) is None
    assert not page.evaluate("document.getElementById('out').classList.contains('mirror')")
    page.close()


def test_bad_drops_get_a_message_and_nothing_sticks(chromium, server, tmp_path) -> None:  # noqa: F811
    page = page_at(chromium, server, "?camera=0")
    page.wait_for_function("() => window.segblur.ready", timeout=120_000)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture")
    browser.drop_file(page, notes, "text/plain")
    message = browser.wait_message(page)
    assert message["kind"] == "not-media" and "notes.txt" in message["text"]
    assert page.is_visible("#message")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(sample_path().read_bytes()[:200])
    browser.drop_file(page, broken, "image/jpeg")
    page.wait_for_function("() => window.segblur.error && window.segblur.error.text.includes('broken.jpg')")
    # A good photo afterwards is processed and clears the message.
    browser.drop_file(page, sample_path(), "image/jpeg")
    page.wait_for_function("() => !window.segblur.error")
    browser.wait_frames(page, 1, "photo", timeout_s=120)
    assert browser.error(page) is None and not page.is_visible("#message")
    page.close()


def test_a_model_that_fails_to_load_says_so_and_another_can_be_chosen(chromium, server) -> None:  # noqa: F811
    context = chromium.new_context()
    context.route(f"**/models/{DEFAULT_MODEL}.onnx",
                  lambda route: route.fulfill(status=200, body=b"garbage, not ONNX"))
    page = context.new_page()
    page.goto(server.url + "?camera=0")
    message = browser.wait_message(page, timeout_s=120)
    assert message["kind"] == "model" and DEFAULT_MODEL in message["text"] and "could not be loaded" in message["text"]
    page.wait_for_function("() => !document.getElementById('model').disabled")
    page.select_option("#model", "person-fast-int8")
    page.wait_for_function("() => window.segblur.stats.model === 'person-fast-int8'", timeout=120_000)
    assert browser.error(page) is None
    browser.drop_file(page, sample_path(), "image/jpeg")
    assert browser.wait_frames(page, 1, "photo", timeout_s=120)["model"] == "person-fast-int8"
    # A backend this browser lacks (headless, no GPU adapter): said so, and the model in use stays.
    page.select_option("#backend", "webgpu")
    message = browser.wait_message(page)
    assert message["kind"] == "model" and "webgpu" in message["text"]
    assert "Still using person-fast-int8" in message["text"]
    assert browser.stats(page)["backend"] == "wasm" and page.input_value("#backend") == "auto"
    context.close()


def test_a_denied_camera_says_so_and_photos_still_work(playwright, camera_clip, server) -> None:  # noqa: F811
    denied = browser.launch(playwright, camera_clip, grant_camera=False)
    try:
        page = browser.open_page(denied, server.url)
        message = browser.wait_message(page, timeout_s=120)
        assert message["kind"] == "camera-denied" and "denied" in message["text"]
        page.wait_for_function("() => window.segblur.ready", timeout=120_000)
        browser.drop_file(page, sample_path(), "image/jpeg")
        page.wait_for_function("() => !window.segblur.error")
        assert browser.wait_frames(page, 1, "photo", timeout_s=120)["source"] == "photo"
    finally:
        denied.close()


@pytest.mark.parametrize("query", ["?camera=0&model=no-such-model"])
def test_an_unknown_model_in_the_address_is_named(chromium, server, query) -> None:  # noqa: F811
    page = page_at(chromium, server, query)
    message = browser.wait_message(page, timeout_s=60)
    assert message["kind"] == "model" and "no-such-model" in message["text"]
    page.close()


def test_a_model_that_keeps_the_aspect_ratio_runs_at_the_photo_s_shape(chromium, tmp_path) -> None:  # noqa: F811
    # A served model with "resize": "keep" and a free-shape graph: the page feeds a 640x360 photo at 256x144 (as
    # the runtime does), not stretched to 192x192, and draws what `segblur image` draws with that model.
    from conftest import build_model

    from segblur.bench.run import make_frame
    from segblur.web.server import make_server, serve_in_thread

    model = build_model(tmp_path / "keep.onnx", size=(192, 192), graph_size=("H", "W"),
                        edit=lambda meta: meta["input"].update(resize="keep"))
    photo = tmp_path / "wide.png"
    write_image(photo, make_frame((640, 360)))
    srv = make_server(port=0, model=model)
    serve_in_thread(srv)
    try:
        page = browser.open_page(chromium, srv.url + "?camera=0")
        page.wait_for_function("() => window.segblur.ready", timeout=120_000)
        browser.drop_file(page, photo, "image/png")
        browser.wait_frames(page, 1, "photo", timeout_s=120)
        out = browser.canvas_rgb(page)
        page.close()
    finally:
        srv.shutdown()
        srv.server_close()
    segblur("image", photo, "-o", tmp_path / "ref.png", "--model", model, "-q")
    diff = np.abs(out.astype(int) - read_image(tmp_path / "ref.png"))
    print(f"page vs segblur image, keep model: mean absolute difference {diff.mean():.3f}, max {diff.max()}")
    assert diff.mean() < 0.5 and np.percentile(diff, 99.9) <= 3
