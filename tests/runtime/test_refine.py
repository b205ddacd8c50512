"""refine: low-resolution probability -> full-resolution alpha that follows the photo's edges."""

from __future__ import annotations

import numpy as np
import pytest

from segblur import RefineConfig
from segblur.runtime.refine import feather_matte, grow_shrink, refine
from segblur.runtime.workspace import Workspace

H = W = 96
EDGE = 50  # true edge column of the step image


def step_image() -> np.ndarray:
    """Bright left of column EDGE, dark right of it: one sharp vertical boundary."""
    img = np.full((H, W, 3), 30, np.uint8)
    img[:, :EDGE] = 220
    return img


def ramp_prob(h: int = 24, w: int = 24, centre: float = EDGE, width: float = 8.0) -> np.ndarray:
    """A blurry low-res probability: a logistic ramp (in full-res pixels) falling around ``centre``."""
    x = (np.arange(w) + 0.5) * W / w
    row = 1 / (1 + np.exp((x - centre) / width))
    return np.tile(row.astype(np.float32), (h, 1))


def square_prob() -> np.ndarray:
    p = np.zeros((24, 24), np.float32)
    p[6:18, 6:18] = 1.0
    return p


def transition_width(row: np.ndarray) -> int:
    return int(((row > 0.1) & (row < 0.9)).sum())


def crossing(row: np.ndarray) -> int:
    """First column where a falling alpha drops below 0.5."""
    return int(np.argmax(row < 0.5))


GRAY = np.full((H, W, 3), 128, np.uint8)  # no edges: the guide has nothing to snap to


@pytest.mark.parametrize("cfg", [RefineConfig(), RefineConfig(guided=False), RefineConfig(softness=0),
                                 RefineConfig(grow=5, feather=2.0), RefineConfig(grow=-5)],
                         ids=["default", "bilinear", "hard", "grow-feather", "shrink"])
@pytest.mark.parametrize("shape", [(96, 96, 3), (37, 53, 3), (53, 37), (7, 5, 3)], ids=str)
def test_alpha_is_float32_unit_range_at_image_size(cfg: RefineConfig, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    prob = rng.random((24, 24), dtype=np.float32)
    alpha = refine(prob, img, cfg)
    assert alpha.shape == shape[:2]
    assert alpha.dtype == np.float32
    assert np.all(alpha >= 0) and np.all(alpha <= 1)


def test_float64_probability_is_accepted() -> None:
    alpha = refine(square_prob().astype(np.float64), GRAY)
    assert alpha.dtype == np.float32 and alpha.shape == (H, W)


@pytest.mark.parametrize("guided", [True, False])
def test_softness_zero_gives_binary_alpha(guided: bool) -> None:
    alpha = refine(ramp_prob(), step_image(), RefineConfig(softness=0, guided=guided))
    near_binary = (alpha < 0.01) | (alpha > 0.99)
    assert near_binary.mean() > 0.99
    assert alpha[:, :20].min() > 0.99 and alpha[:, 80:].max() < 0.01


def test_default_softness_keeps_a_soft_ramp_where_the_image_is_smooth() -> None:
    # With no image edge to snap to, the ramp of the probability stays soft.
    img = np.tile(np.linspace(0, 255, W).astype(np.uint8)[None, :, None], (H, 1, 3))
    alpha = refine(ramp_prob(width=12.0), img, RefineConfig(guided=False))
    assert transition_width(alpha[H // 2]) > 10


def test_guided_alpha_snaps_to_the_real_edge_and_bilinear_does_not() -> None:
    img, prob = step_image(), ramp_prob()
    guided = refine(prob, img, RefineConfig())[H // 2]
    plain = refine(prob, img, RefineConfig(guided=False))[H // 2]
    assert abs(crossing(guided) - EDGE) <= 2
    assert transition_width(guided) <= 3
    assert transition_width(plain) >= 10  # a blurry bilinear ramp
    assert transition_width(plain) >= 3 * max(1, transition_width(guided))


def test_guided_edge_follows_the_image_when_the_ramp_is_off_by_a_little() -> None:
    # The network's ramp is centred 4 px right of the real edge; the alpha edge still lands on it.
    img, prob = step_image(), ramp_prob(centre=EDGE + 4)
    guided = refine(prob, img, RefineConfig())[H // 2]
    plain = refine(prob, img, RefineConfig(guided=False))[H // 2]
    assert abs(crossing(guided) - EDGE) <= 1
    assert abs(crossing(plain) - (EDGE + 4)) <= 2


def test_gray_guide_image_works_like_rgb() -> None:
    img = step_image()
    a_rgb = refine(ramp_prob(), img)
    a_gray = refine(ramp_prob(), img[..., 0])
    np.testing.assert_allclose(a_rgb, a_gray, atol=1e-5)


@pytest.mark.parametrize("guided", [True, False])
def test_grow_increases_and_negative_grow_decreases_the_foreground(guided: bool) -> None:
    def area(grow: int) -> int:
        return int((refine(square_prob(), GRAY, RefineConfig(grow=grow, guided=guided)) >= 0.5).sum())

    base = area(0)
    assert base > 0
    assert area(6) > base * 1.2
    assert area(12) > area(6)
    assert area(-6) < base * 0.8
    assert area(-12) < area(-6)


@pytest.mark.parametrize("grow", [2, -2])
def test_small_grow_still_moves_the_edge(grow: int) -> None:
    cfg0, cfg = RefineConfig(guided=False), RefineConfig(grow=grow, guided=False)
    base = (refine(square_prob(), GRAY, cfg0) >= 0.5).sum()
    grown = (refine(square_prob(), GRAY, cfg) >= 0.5).sum()
    assert grown > base if grow > 0 else grown < base


def test_grow_shrink_on_a_probability_map() -> None:
    p = square_prob()
    assert grow_shrink(p, 0) is p
    assert grow_shrink(p, 1).sum() > p.sum()
    assert grow_shrink(p, -1).sum() < p.sum()
    assert np.all(grow_shrink(p, 1)[p > 0] == 1)  # dilation keeps every foreground pixel


def test_feather_softens_the_edge() -> None:
    img, prob = step_image(), ramp_prob()
    hard = refine(prob, img, RefineConfig(softness=0))[H // 2]
    soft = refine(prob, img, RefineConfig(softness=0, feather=3.0))[H // 2]
    assert transition_width(hard) <= 1
    assert transition_width(soft) >= 4
    assert abs(crossing(soft) - crossing(hard)) <= 1  # softened, not moved


@pytest.mark.parametrize("kwargs", [
    {"threshold": 0.0}, {"threshold": 1.0}, {"threshold": -0.2}, {"softness": -0.1}, {"softness": 1.5},
    {"feather": -1.0}, {"radius": 0}, {"eps": 0.0},
])
def test_refine_config_validation(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        RefineConfig(**kwargs)


@pytest.mark.parametrize("cfg", [RefineConfig(), RefineConfig(guided=False), RefineConfig(grow=6, feather=1.5),
                                 RefineConfig(softness=0)], ids=["default", "bilinear", "grow-feather", "hard"])
def test_workspace_gives_identical_results(cfg: RefineConfig) -> None:
    img, prob = step_image(), ramp_prob()
    without = refine(prob, img, cfg)
    ws = Workspace()
    first = refine(prob, img, cfg, ws).copy()
    np.testing.assert_array_equal(first, without)
    # Another size in between reallocates the buffers; the same input gives the same result again.
    refine(prob, np.zeros((40, 70, 3), np.uint8), cfg, ws)
    np.testing.assert_array_equal(refine(prob, img, cfg, ws), without)


def test_workspace_reuses_buffers_for_the_same_size() -> None:
    ws = Workspace()
    a = ws.get("x", (4, 5))
    assert ws.get("x", (4, 5)) is a
    assert ws.get("x", (5, 4)) is not a
    assert ws.get("x", (5, 4), np.uint8).dtype == np.uint8


@pytest.mark.parametrize("field,value", [("feather", float("inf")), ("feather", float("nan")),
                                         ("threshold", float("nan")), ("softness", float("inf")), ("grow", 1.5)])
def test_refine_config_rejects_non_finite_or_fractional_values(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RefineConfig(**{field: value})


def test_large_grow_and_feather_are_clamped_and_keep_their_meaning() -> None:
    alpha = np.zeros((600, 800), np.float32)
    alpha[200:400, 300:500] = 1
    grown = grow_shrink(alpha, 60)  # computed at reduced resolution (see grow_shrink)
    shrunk = grow_shrink(alpha, -60)
    feathered = feather_matte(alpha, 40.0)
    huge = grow_shrink(alpha, 10**6)  # clamped to the frame, no giant kernel
    area = alpha.sum()
    assert grown.sum() > area * 1.8 and shrunk.sum() < area * 0.4
    assert grown[150, 400] > 0.9 and shrunk[300, 400] > 0.9 and shrunk[215, 400] < 0.1
    assert np.all(grown >= alpha) and np.all(shrunk <= alpha)
    assert np.all(huge == 1)
    assert 0 < feathered[200, 300] < 1 and feathered.max() <= 1


def test_small_grow_is_exact_at_full_resolution() -> None:
    alpha = np.zeros((64, 64), np.float32)
    alpha[20:40, 20:40] = 1
    assert grow_shrink(alpha, 2)[18, 30] == 1 and grow_shrink(alpha, 2)[17, 30] == 0
    assert grow_shrink(alpha, -2)[22, 30] == 1 and grow_shrink(alpha, -2)[21, 30] == 0
