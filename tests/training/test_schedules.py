"""Learning-rate schedules: poly, and one-cycle cosine (warm-up, peak, floor)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from segblur.training.schedules import make_scheduler, poly_lambda, schedule_length  # noqa: E402


def lrs(schedule: str, steps: int, **kw) -> list[float]:
    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=kw.get("lr", 1e-2))
    sched = make_scheduler(opt, schedule, lr=kw.pop("lr", 1e-2), total_steps=steps, **kw)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_poly_lambda() -> None:
    f = poly_lambda(10)
    assert f(0) == 1.0 and f(10) == 0.0 and f(5) == pytest.approx(0.5**0.9)


@pytest.mark.parametrize("min_lr", [0.0, 1e-4])
def test_poly_decays_to_the_floor(min_lr: float) -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1e-2)
    sched = make_scheduler(opt, "poly", lr=1e-2, total_steps=50, warmup=0.0, min_lr=min_lr)
    curve = [opt.param_groups[0]["lr"]]
    for _ in range(50):
        opt.step()
        sched.step()
        curve.append(opt.param_groups[0]["lr"])
    assert curve[0] == pytest.approx(1e-2) and curve[-1] == pytest.approx(min_lr, abs=1e-12)
    assert all(a > b for a, b in zip(curve, curve[1:])) and min(curve) >= min_lr * (1 - 1e-9)
    assert curve[25] == pytest.approx(min_lr + (1e-2 - min_lr) * 0.5**0.9)


def test_cosine_warms_up_to_the_peak_and_decays_to_the_floor() -> None:
    curve = lrs("cosine", 100, warmup=0.1, min_lr=1e-5)
    assert curve[0] == pytest.approx(1e-3)  # lr / 10
    peak = max(range(100), key=curve.__getitem__)
    assert 8 <= peak <= 10 and curve[peak] == pytest.approx(1e-2, rel=1e-3)
    assert all(a < b for a, b in zip(curve[:peak], curve[1:peak + 1]))
    assert all(a >= b for a, b in zip(curve[peak:], curve[peak + 1:]))
    assert curve[-1] == pytest.approx(1e-5, rel=0.05)


@pytest.mark.parametrize(("steps", "warmup"), [(20, 0.05), (10, 0.1), (7, 0.0), (1, 0.05)])
def test_cosine_any_length_and_warmup(steps: int, warmup: float) -> None:
    # A warm-up of exactly one step makes torch's OneCycleLR divide by zero; it is treated as none.
    curve = lrs("cosine", steps, warmup=warmup, min_lr=1e-5)
    assert len(curve) == steps and all(0 < v <= 1e-2 * 1.0001 for v in curve)


def test_only_one_cycle_has_a_fixed_length() -> None:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    common = {"lr": 0.1, "total_steps": 50, "warmup": 0.05, "min_lr": 1e-4}
    assert schedule_length(make_scheduler(opt, "cosine", **common).state_dict()) == 50
    assert schedule_length(make_scheduler(opt, "poly", **common).state_dict()) is None
    with pytest.raises(ValueError, match="schedule must be one of"):
        make_scheduler(opt, "step", **common)
