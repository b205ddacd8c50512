"""The page's compositing (static/*.js, run under Node.js) against the Python runtime, stage by stage.

The page must follow the runtime's rules with the runtime's numbers (served in api/config): the same model input,
the same guided-filter alpha, the same halo-free backgrounds and blend, the same temporal smoothing. The probabilities
come from the Python segmenter, so only the page's own code is compared here; the browser tests add onnxruntime-web.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from pagekit import need_node

from segblur.assets import sample_path
from segblur.bench.run import make_frame
from segblur.media.images import read_image
from segblur.runtime.compose import composite
from segblur.runtime.effects import make_effect
from segblur.runtime.refine import RefineConfig, refine
from segblur.runtime.resize import downscale, kept_size
from segblur.runtime.segmenter import Segmenter
from segblur.runtime.temporal import TemporalConfig, TemporalSmoother
from segblur.web.assets import STATIC
from segblur.web.server import runtime_rules

DRIVER = Path(__file__).with_name("page_modules.mjs")
EFFECTS = [("blur", 0.5), ("blur", 1.0), ("blur", 0.02), ("bokeh", 0.5), ("color", 1.0), ("color", 0.4)]


def run_page(folder: Path, job: dict) -> None:
    node = need_node()
    (folder / "job.json").write_text(json.dumps({**job, "static": STATIC.as_uri(), "config": runtime_rules()}))
    subprocess.run([node, str(DRIVER), str(folder)], check=True, capture_output=True, timeout=300,
                   env={**os.environ, "NODE_NO_WARNINGS": "1"})


def rgba(rgb: np.ndarray) -> np.ndarray:
    return np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    return Segmenter("person-fast")


@pytest.mark.parametrize("size", [None, (640, 480), (333, 517), (1280, 720)],
                         ids=["astronaut-512", "640x480", "333x517-odd", "1280x720"])
def test_page_stages_equal_the_runtimes(size, segmenter: Segmenter, tmp_path: Path) -> None:
    rgb = read_image(sample_path()) if size is None else make_frame(size)
    h, w = rgb.shape[:2]
    prob = segmenter.predict_lowres(rgb)
    rgba(rgb).tofile(tmp_path / "frame.rgba")
    prob.astype(np.float32).tofile(tmp_path / "prob.f32")
    color = runtime_rules()["effects"]["color"]["color"]
    run_page(tmp_path, {"kind": "frame", "w": w, "h": h, "pw": prob.shape[1], "ph": prob.shape[0],
                        "model_size": list(segmenter.info.input_size_for(h, w)),
                        "effects": [{"name": n, "strength": s, "color": color} for n, s in EFFECTS]})

    mh, mw = segmenter.info.input_size_for(h, w)
    small = np.fromfile(tmp_path / "small.rgba", np.uint8).reshape(mh, mw, 4)[..., :3]
    assert np.abs(small.astype(int) - downscale(rgb, (mw, mh))).max() <= 1  # the model's input

    alpha_ref = refine(prob, rgb, RefineConfig())
    alpha = np.fromfile(tmp_path / "alpha.f32", np.float32).reshape(h, w)
    assert np.abs(alpha - alpha_ref).max() < 1e-2 and np.abs(alpha - alpha_ref).mean() < 1e-5

    for i, (name, strength) in enumerate(EFFECTS):
        ref = composite(rgb, make_effect(name, strength).render(rgb, alpha_ref), alpha_ref)
        out = np.fromfile(tmp_path / f"out{i}.rgba", np.uint8).reshape(h, w, 4)
        assert (out[..., 3] == 255).all()
        diff = np.abs(out[..., :3].astype(int) - ref)
        assert diff.max() <= 2 and diff.mean() < 0.15, (name, strength, diff.max(), diff.mean())


def test_page_input_sizes_of_a_keep_model_equal_the_runtimes(tmp_path: Path) -> None:
    # Sizes where Python's round-half-to-even and plain rounding part (1296x1024 at 64x64: 72 / 16 = 4.5), extreme
    # aspects (clamped), tiny images.
    images = [(720, 1280), (1080, 1920), (480, 640), (800, 600), (1, 1), (100, 1000), (1000, 100), (517, 333),
              (9, 16), (3, 2), (1296, 1024), (1024, 1296)] + [(h, 1000) for h in range(500, 2001, 37)]
    budgets = [(192, 192), (256, 256), (64, 64), (144, 256)]
    for budget in budgets:
        run_page(tmp_path, {"kind": "sizes", "images": images, "budget": list(budget)})
        got = [tuple(s) for s in json.loads((tmp_path / "sizes.json").read_text())]
        assert got == [kept_size(h, w, budget) for h, w in images], budget


def test_page_temporal_smoothing_equals_the_runtimes(segmenter: Segmenter, tmp_path: Path) -> None:
    base = make_frame((320, 240))
    rng = np.random.default_rng(0)
    frames = [base, base, np.roll(base, 6, axis=1), np.roll(base, 12, axis=1), base[:, ::-1].copy(), 255 - base]
    smoother = TemporalSmoother(TemporalConfig(flow=False))  # the page has no optical flow: the rest is the same
    expected = []
    for i, f in enumerate(frames):
        prob = np.clip(segmenter.predict_lowres(f) + rng.normal(0, 0.1, (192, 192)).astype(np.float32), 0, 1)
        rgba(f).tofile(tmp_path / f"frame{i}.rgba")
        prob.astype(np.float32).tofile(tmp_path / f"prob{i}.f32")
        expected.append(smoother(prob, f))
    run_page(tmp_path, {"kind": "temporal", "w": 320, "h": 240, "pw": 192, "ph": 192, "frames": len(frames)})
    assert smoother.resets >= 1  # the sequence includes a cut, so the reset path is compared too
    for i, ref in enumerate(expected):
        got = np.fromfile(tmp_path / f"smooth{i}.f32", np.float32).reshape(192, 192)
        # A thumbnail pixel one grey level apart (area resize rounding) moves a motion weight by 0.04, at most.
        assert np.abs(got - ref).max() < 1e-2 and np.abs(got - ref).mean() < 1e-4, i
