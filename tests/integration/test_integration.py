"""The shipped default model on real photos from ../shared/data (skipped where that folder is absent).

Thresholds are the issue's target (person IoU >= 0.90 on the Shen test split) and a floor a little
under what the shipped model measured on the Vikram hold-out, so a regression fails loudly.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import SHARED_DATA

from segblur import Pipeline, Segmenter
from segblur.cli.main import main
from segblur.eval.evaluation import SHEN, VIKRAM, evaluate_person, person_items
from segblur.media.images import read_image

DATA = SHARED_DATA
pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not (DATA / SHEN).is_dir(), reason=f"{DATA} not available")]


@pytest.fixture(scope="module")
def pipeline() -> Pipeline:
    return Pipeline("default")


def test_default_model_person_iou_on_shen_test(pipeline: Pipeline) -> None:
    items = person_items(DATA, SHEN, "test")
    assert len(items) == 263  # 264 listed, one of a near-duplicate pair dropped
    score = evaluate_person(lambda img: pipeline.mask(img) >= 0.5, items)
    assert score.iou >= 0.90, score  # the issue's target; measured 0.955 for the shipped default


def test_default_model_person_iou_on_vikram_holdout(pipeline: Pipeline) -> None:
    score = evaluate_person(lambda img: pipeline.mask(img) >= 0.5, person_items(DATA, VIKRAM, "test"))
    assert score.iou >= 0.80, score  # measured 0.884 for the shipped default


def test_guided_refinement_is_not_worse_than_bilinear(pipeline: Pipeline) -> None:
    items = person_items(DATA, SHEN, "test")[::4]
    guided = evaluate_person(lambda img: pipeline.mask(img) >= 0.5, items)
    plain = evaluate_person(lambda img: Segmenter("default").predict(img) >= 0.5, items)
    assert guided.iou >= plain.iou - 0.002, (guided, plain)


def _detail(img: np.ndarray) -> np.ndarray:
    """Per-pixel gradient energy: what a blur removes."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return np.abs(cv2.Laplacian(g, cv2.CV_32F, ksize=3))


def _band(mask: np.ndarray, px: int) -> tuple[np.ndarray, np.ndarray]:
    """(surely person, surely background): the mask eroded / the background eroded by ``px``."""
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    m = mask.astype(np.uint8)
    return cv2.erode(m, k) > 0, cv2.erode(1 - m, k) > 0


def test_cli_blurs_background_and_keeps_person(tmp_path: Path) -> None:
    items = person_items(DATA, SHEN, "test")[:24]
    # The three photos with the most textured backgrounds (a flat studio wall hardly changes when blurred).
    def bg_detail(item) -> float:
        img, gt = read_image(item[1]), read_image(item[2])[..., 0] > 127
        return float(_detail(img)[_band(gt, 12)[1]].mean())

    items = sorted(items, key=bg_detail)[-3:]
    srcs = [str(p) for _, p, _ in items]
    assert main(["image", *srcs, "-o", str(tmp_path / "out"), "-q"]) == 0
    for _, img_path, mask_path in items:
        src = read_image(img_path)
        out = read_image(tmp_path / "out" / img_path.name)
        assert out.shape == src.shape
        inner, outer = _band(read_image(mask_path)[..., 0] > 127, 12)
        d_src, d_out = _detail(src), _detail(out)
        # The person keeps its detail; the background loses most of it.
        assert d_out[inner].mean() > 0.8 * d_src[inner].mean(), img_path
        assert d_out[outer].mean() < 0.4 * d_src[outer].mean(), img_path


@pytest.mark.skipif(not (DATA / "lfw-parts").is_dir(), reason="lfw-parts not available")
def test_lfw_unet_meets_the_issue_targets_on_the_official_test_split(tmp_path: Path) -> None:
    """The shipped lfw-unet on all 927 official test faces: pixel accuracy >= 0.95, mean IoU >= 0.85."""
    import json

    report = tmp_path / "lfw.json"
    assert main(["evaluate", "--model", "lfw-unet", "--data", f"lfw:{DATA / 'lfw-parts'}", "--split", "test",
                 "--json", str(report), "-q"]) == 0
    r = json.loads(report.read_text())
    assert r["images"] == 927 and r["failed"] == 0
    assert r["pixel_accuracy"] >= 0.95 and r["mean_iou"] >= 0.85, r  # measured 0.965 / 0.885


@pytest.mark.skipif(not (DATA / "lfw-parts").is_dir(), reason="lfw-parts not available")
def test_lfw_unet_keeps_only_the_face_sharp(tmp_path: Path) -> None:
    """--keep skin blurs hair and background of a test face but leaves the skin pixels as they were."""
    from segblur.data import open_dataset

    ds = open_dataset(f"lfw:{DATA / 'lfw-parts'}")
    sample = ds.samples("test")[0]
    _, truth = ds.load(sample)
    out = tmp_path / "face.png"
    assert main(["image", str(sample.image), "-o", str(out), "--model", "lfw-unet", "--keep", "skin",
                 "--effect", "color", "--color", "#00ff00", "-q"]) == 0
    img = read_image(sample.image)
    res = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB).astype(int)
    changed = np.abs(res - img.astype(int)).sum(-1) > 30
    skin = cv2.erode((truth == 1).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    other = cv2.erode((truth != 1).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert changed[skin].mean() < 0.05 and changed[other].mean() > 0.8
