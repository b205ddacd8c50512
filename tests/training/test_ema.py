"""The weight average: its arithmetic, and a training run that validates, saves and resumes it exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn as nn  # noqa: E402
from conftest import RunStoppedError, make_folder_dataset, stop_after  # noqa: E402

from segblur.training.checkpoint import load  # noqa: E402
from segblur.training.config import TrainConfig, layered_config  # noqa: E402
from segblur.training.ema import WeightAverage  # noqa: E402
from segblur.training.export import training_summary  # noqa: E402
from segblur.training.loop import Trainer  # noqa: E402


def small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))


def test_the_average_follows_the_formula_with_its_warm_up() -> None:
    model = small()
    average = WeightAverage(model, 0.9)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    expected = {k: v.clone().double() for k, v in start.items() if v.is_floating_point()}
    for n in range(30):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        model.train()(torch.randn(2, 3, 8, 8))  # moves the batch-norm statistics and counter
        d = min(0.9, (1 + n) / (10 + n))
        assert average.current_decay() == pytest.approx(d)
        average.update(model)
        for k, v in model.state_dict().items():
            if k in expected:
                expected[k] = d * expected[k] + (1 - d) * v.double()
    mine = average.state_dict()
    for k, v in expected.items():
        assert torch.allclose(mine[k].double(), v, atol=1e-5), k
        assert not torch.equal(mine[k], model.state_dict()[k]), k  # an average, not a copy
    assert mine["1.num_batches_tracked"] == model.state_dict()["1.num_batches_tracked"] == 30
    assert average.updates == 30 and average.current_decay() == pytest.approx(31 / 40)  # still ramping up to 0.9
    assert not any(p.requires_grad for p in average.module.parameters()) and not average.module.training
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(model, 1.0)


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "discs")


def cfg(folder: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data=f"folder:{folder}", arch="unet", out=str(out), epochs=6, batch_size=3, image_size=32,
                lr=1e-2, arch_kwargs={"width": 4}, tensorboard=False, seed=3, threads=1, ema=0.8,
                schedule="cosine", warmup=0.3, min_lr=1e-5)
    base.update(kw)
    return TrainConfig(**base)


def test_a_run_validates_saves_and_resumes_the_average(folder: Path, tmp_path: Path) -> None:
    trainer = Trainer(cfg(folder, tmp_path / "straight"), quiet=True)
    summary = trainer.fit()
    best = load(tmp_path / "straight" / "best.pt")
    assert set(best["model"]) == set(best["train_model"]) and best["ema_updates"] > 0
    assert any(not torch.equal(best["model"][k], best["train_model"][k]) for k in best["model"])
    # The logged score is the average's: the saved average scores it again, the raw weights do not.
    trainer.eval_model.load_state_dict(best["model"])
    assert trainer.validate(0)[0]["mean_iou"] == pytest.approx(best["val"]["mean_iou"]) == summary["best"]
    trainer.eval_model.load_state_dict(best["train_model"])
    assert trainer.validate(0)[0]["mean_iou"] != pytest.approx(best["val"]["mean_iou"])
    assert training_summary(best)["ema"] == 0.8
    # Stopped after epoch 2 and resumed: the same raw weights and the same average, bit for bit.
    with pytest.raises(RunStoppedError):
        Trainer(cfg(folder, tmp_path / "split"), quiet=True, on_epoch=stop_after(2)).fit()
    Trainer(cfg(folder, tmp_path / "split"), resume=True, quiet=True).fit()
    a, b = load(tmp_path / "straight" / "last.pt"), load(tmp_path / "split" / "last.pt")
    assert a["ema_updates"] == b["ema_updates"]
    for part in ("model", "train_model"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    # Averaging never touches training: the raw weights are those of the same run without it.
    Trainer(cfg(folder, tmp_path / "plain", ema=0.0), quiet=True).fit()
    plain = load(tmp_path / "plain" / "last.pt")["model"]
    assert all(torch.equal(plain[k], a["train_model"][k]) for k in plain)


def test_ema_is_a_setting_that_a_resume_compares(folder: Path, tmp_path: Path) -> None:
    Trainer(cfg(folder, tmp_path / "r", epochs=1, ema=0.0, schedule="plateau"), quiet=True).fit()
    assert "train_model" not in load(tmp_path / "r" / "last.pt")
    base = {k: v for k, v in vars(cfg(folder, tmp_path / "r", ema=0.9, schedule="plateau")).items()
            if k in TrainConfig.fields()}
    _, changed = layered_config(base, resume=tmp_path / "r")
    assert any(c.startswith("ema 0.0 -> 0.9") for c in changed)
    # Switched on at a resume, the average starts from the saved weights.
    Trainer(cfg(folder, tmp_path / "r", epochs=2, ema=0.9, schedule="plateau"), resume=True, quiet=True).fit()
    assert load(tmp_path / "r" / "last.pt")["ema_updates"] > 0
    with pytest.raises(ValueError, match="ema decay"):
        cfg(folder, tmp_path / "x", ema=1.0).validate()

