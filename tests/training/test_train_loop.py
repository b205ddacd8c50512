"""The training loop, its CLI (train / export / tune), tracking, exact resume and DDP on CPU."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import cv2
import pytest

torch = pytest.importorskip("torch")

from conftest import REPO, make_folder_dataset  # noqa: E402

from segblur.cli.main import main  # noqa: E402
from segblur.training.checkpoint import load  # noqa: E402
from segblur.training.loop import EpochSampler, TrainConfig, Trainer, poly_lambda  # noqa: E402


def read_log(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "discs")


def cfg(folder: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data=f"folder:{folder}", arch="unet", out=str(out), epochs=2, batch_size=3, image_size=32,
                lr=3e-3, arch_kwargs={"width": 4}, tensorboard=False, seed=3, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def test_train_writes_run_folder_and_learns(folder: Path, tmp_path: Path) -> None:
    summary = Trainer(cfg(folder, tmp_path / "run", epochs=6, tensorboard=True), quiet=True).fit()
    run = tmp_path / "run"
    for name in ("last.pt", "best.pt", "metrics.json", "log.csv", "predictions.jpg"):
        assert (run / name).is_file(), name
    assert any((run / "tensorboard").iterdir())
    on_disk = json.loads((run / "metrics.json").read_text())
    assert on_disk["best"] == pytest.approx(summary["best"])
    assert on_disk["epochs_run"] == 6 and len(on_disk["history"]) == 6
    assert on_disk["config"]["classes"] == ["background", "foreground"]
    rows = read_log(run / "log.csv")
    assert [int(r["epoch"]) for r in rows] == list(range(1, 7))
    assert {"train_loss", "lr", "val_mean_iou", "val_pixel_accuracy", "val_iou_foreground"} <= set(rows[0])
    losses = [float(r["train_loss"]) for r in rows]
    assert losses[-1] < losses[0]  # it learns the discs
    best = load(run / "best.pt")
    assert best["val"]["mean_iou"] == pytest.approx(summary["best"])
    picture = cv2.imread(str(run / "predictions.jpg"))
    assert picture is not None and picture.shape[1] > picture.shape[0] / 3


def test_resume_is_exact(folder: Path, tmp_path: Path) -> None:
    Trainer(cfg(folder, tmp_path / "straight", epochs=3), quiet=True).fit()
    Trainer(cfg(folder, tmp_path / "split", epochs=2), quiet=True).fit()
    Trainer(cfg(folder, tmp_path / "split", epochs=3), resume=True, quiet=True).fit()
    a = load(tmp_path / "straight" / "last.pt")
    b = load(tmp_path / "split" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    rows = read_log(tmp_path / "split" / "log.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]  # the log continues, not restarts


def test_existing_run_needs_resume_and_resume_needs_a_run(folder: Path, tmp_path: Path) -> None:
    Trainer(cfg(folder, tmp_path / "r", epochs=1), quiet=True).fit()
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(cfg(folder, tmp_path / "r", epochs=2), quiet=True).fit()
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        Trainer(cfg(folder, tmp_path / "none"), resume=True, quiet=True).fit()
    with pytest.raises(ValueError, match="image_size"):
        Trainer(cfg(folder, tmp_path / "r", epochs=2, image_size=64), resume=True, quiet=True).fit()


def test_sgd_poly_schedule_decays_to_zero(folder: Path, tmp_path: Path) -> None:
    Trainer(cfg(folder, tmp_path / "p", optimizer="sgd", schedule="poly", lr=0.05, epochs=2), quiet=True).fit()
    rows = read_log(tmp_path / "p" / "log.csv")
    lrs = [float(r["lr"]) for r in rows]
    assert lrs[0] < 0.05 and lrs[-1] == pytest.approx(0.0, abs=1e-9)
    f = poly_lambda(10)
    assert f(0) == 1.0 and f(10) == 0.0 and f(5) == pytest.approx(0.5**0.9)


def test_early_stopping(folder: Path, tmp_path: Path) -> None:
    # A learning rate of ~0 cannot improve the score after epoch 1, so patience 2 stops after epoch 3.
    summary = Trainer(cfg(folder, tmp_path / "e", epochs=10, lr=1e-12, early_stop=2), quiet=True).fit()
    assert summary["stopped_early"] and summary["epochs_run"] == 3


def test_epoch_sampler_is_a_function_of_seed_and_epoch_and_splits_ranks() -> None:
    s = EpochSampler(10, seed=1)
    s.set_epoch(4)
    first = list(s)
    s.set_epoch(5)
    assert list(s) != first
    s.set_epoch(4)
    assert list(s) == first and sorted(first) == list(range(10))
    ranks = [EpochSampler(10, seed=1, rank=r, world=3) for r in range(3)]
    for r in ranks:
        r.set_epoch(4)
    shares = [list(r) for r in ranks]
    assert all(len(x) == 4 for x in shares)
    assert set(sum(shares, [])) == set(range(10))


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(data="folder:x", arch="unet", out="o", epochs=0).validate()
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(data="folder:x", arch="unet", out="o", optimizer="rmsprop").validate()


# ---------------------------------------------------------------------------------------------------- CLI

def test_train_help_lists_the_registry(capsys) -> None:
    from segblur.names import ARCHITECTURES
    from segblur.training.models import list_models

    assert tuple(list_models()) == ARCHITECTURES
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert all(a in out for a in list_models())


def test_cli_train_export_and_run_the_model(folder: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    conf = tmp_path / "train.yaml"
    conf.write_text(f"data: folder:{folder}\narch: unet\narch_kwargs: {{width: 4}}\nimage_size: 32\n"
                    f"batch_size: 3\nepochs: 1\nthreads: 1\n")
    assert main(["train", "--config", str(conf), "--out", str(run), "--epochs", "2", "--no-tensorboard",
                 "-q"]) == 0
    assert load(run / "last.pt")["epoch"] == 1  # the option overrides the file
    model = tmp_path / "discs.onnx"
    assert main(["export", str(run / "best.pt"), "-o", str(model)]) == 0
    from segblur.runtime.model import OnnxModel

    info = OnnxModel(model).info
    assert list(info.classes) == ["background", "foreground"] and list(info.foreground) == ["foreground"]
    assert tuple(info.input_size) == (32, 32) and info.architecture == "unet"
    assert info.extra["training"]["epochs"] >= 1
    out = tmp_path / "out.png"
    assert main(["image", str(folder / "images" / "im00.png"), "-o", str(out), "--model", str(model), "-q"]) == 0
    assert cv2.imread(str(out)) is not None


def test_cli_train_errors_are_one_line(folder: Path, tmp_path: Path, capsys) -> None:
    code = main(["train", "--data", f"folder:{tmp_path / 'missing'}", "--arch", "unet", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "missing" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    code = main(["train", "--data", f"folder:{folder}", "--arch", "nope", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "nope" in err and "unet" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("data: x\nlearning_rate: 3\n")
    code = main(["train", "--config", str(bad), "--arch", "unet", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "bad.yaml" in err and "learning_rate" in err
    code = main(["train", "--arch", "unet", "--out", str(tmp_path / "r")])
    assert code == 2 and "--data" in capsys.readouterr().err


def test_cli_export_errors(tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert main(["export", str(junk), "-o", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "junk.pt" in err and "Traceback" not in err
    assert not (tmp_path / "m.onnx").exists()
    assert main(["export", str(tmp_path / "none.pt"), "-o", str(tmp_path / "m.onnx")]) == 2
    assert main(["export", str(junk), "-o", str(tmp_path / "m.onnx"), "--int8"]) == 2
    assert "--calibration" in capsys.readouterr().err


def test_wandb_offline_backend_receives_the_metrics(folder: Path, tmp_path: Path, monkeypatch) -> None:
    logged: list[dict] = []
    fake = types.ModuleType("wandb")

    class Run:
        def log(self, values, step=None):
            logged.append(dict(values, _step=step))

        def finish(self):
            logged.append({"_finished": True})

    inits: list[dict] = []
    fake.init = lambda **kw: inits.append(kw) or Run()
    fake.Image = lambda arr: ("image", arr.shape)
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("WANDB_MODE", "offline")
    Trainer(cfg(folder, tmp_path / "w", epochs=1, wandb=True), quiet=True).fit()
    assert inits[0]["mode"] == "offline" and inits[0]["config"]["arch"] == "unet"
    assert any("val_mean_iou" in v for v in logged) and logged[-1] == {"_finished": True}


def test_tune_runs_trials_in_a_shared_sqlite_study(folder: Path, tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    from segblur.training.tune import tune

    base = cfg(folder, tmp_path / "study", epochs=1)
    first = tune(base, trials=2, quiet=True)
    assert first["trials"] == 2 and (tmp_path / "study" / "study.db").is_file()
    assert set(first["best_params"]) == {"lr", "weight_decay", "optimizer", "batch_size"}
    again = tune(base, trials=1, quiet=True)  # a second worker joins the same study
    assert again["trials"] == 3
    assert json.loads((tmp_path / "study" / "best.json").read_text())["trials"] == 3


@pytest.mark.skipif(sys.platform != "linux", reason="torchrun with gloo is exercised on Linux")
def test_ddp_two_processes_on_cpu(folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "segblur", "train", "--data", f"folder:{folder}", "--arch", "unet", "--arch-option", "width=4",
           "--out", str(run), "--epochs", "2", "--batch-size", "2", "--image-size", "32", "--no-tensorboard",
           "--threads", "1", "-q"]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    summary = json.loads((run / "metrics.json").read_text())
    assert summary["config"]["world_size"] == 2 and summary["epochs_run"] == 2
    ck = load(run / "last.pt")
    assert ck["epoch"] == 1 and all(not k.startswith("module.") for k in ck["model"])
    rows = read_log(run / "log.csv")
    assert len(rows) == 2  # only rank 0 writes


def test_cli_resume_takes_the_run_settings_from_the_checkpoint(folder: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    common = ["--no-tensorboard", "-q", "--threads", "1"]
    assert main(["train", "--data", f"folder:{folder}", "--arch", "unet", "--arch-option", "width=4",
                 "--image-size", "32", "--batch-size", "3", "--epochs", "1", "--out", str(run), *common]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(run), "--resume", "--epochs", "2", *common]) == 0
    ck = load(run / "last.pt")
    assert ck["epoch"] == 1 and ck["config"]["arch_kwargs"] == {"width": 4} and ck["config"]["batch_size"] == 3
    assert "changed settings" not in capsys.readouterr().err
    assert main(["train", "--out", str(run), "--resume", "--epochs", "3", "--batch-size", "2", *common]) == 0
    err = capsys.readouterr().err
    assert "changed settings" in err and "batch_size 3 -> 2" in err
    assert main(["train", "--out", str(tmp_path / "nothing"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_cli_bad_setting_types_and_arch_options_are_one_line(folder: Path, tmp_path: Path, capsys) -> None:
    conf = tmp_path / "c.yaml"
    conf.write_text(f"data: folder:{folder}\narch: unet\nepochs: ten\n")
    assert main(["train", "--config", str(conf), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "epochs" in err and "ten" in err and len(err.strip().splitlines()) == 1
    assert main(["train", "--data", f"folder:{folder}", "--arch", "unet", "--arch-option", "depth=9",
                 "--out", str(tmp_path / "r2"), "-q", "--no-tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "depth" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_resuming_an_early_stopped_run_trains_no_more(folder: Path, tmp_path: Path) -> None:
    Trainer(cfg(folder, tmp_path / "e", epochs=10, lr=1e-12, early_stop=2), quiet=True).fit()
    before = load(tmp_path / "e" / "last.pt")["epoch"]
    summary = Trainer(cfg(folder, tmp_path / "e", epochs=10, lr=1e-12, early_stop=2), resume=True, quiet=True).fit()
    assert load(tmp_path / "e" / "last.pt")["epoch"] == before and summary["stopped_early"]


def test_export_stores_an_evaluate_report_as_a_summary(folder: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    Trainer(cfg(folder, run, epochs=1), quiet=True).fit()
    report = tmp_path / "test.json"
    assert main(["evaluate", "--model", str(run / "best.pt"), "--data", f"folder:{folder}", "--split", "val",
                 "--json", str(report), "-q"]) == 0
    model = tmp_path / "new" / "folder" / "m.onnx"  # the output folder does not exist yet
    assert main(["export", str(run / "best.pt"), "-o", str(model), "--metrics", str(report)]) == 0
    from segblur.runtime.model import OnnxModel

    metrics = OnnxModel(model).info.extra["metrics"]
    scores = metrics["discs val"]
    got = json.loads(report.read_text())
    assert scores["mean_iou"] == pytest.approx(got["mean_iou"], abs=1e-4)
    assert {"pixel_accuracy", "iou_background", "iou_foreground"} <= set(scores)
    capsys.readouterr()
    assert main(["models", str(model)]) in (0, 2)  # by path or refused; never a traceback
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert main(["export", str(run / "best.pt"), "-o", str(tmp_path / "x.onnx"), "--metrics", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err


@pytest.mark.parametrize("recipe", sorted((REPO / "recipes").glob("*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_recipes_are_valid_configs(recipe: Path) -> None:
    import yaml

    from segblur.training.models import list_models

    values = yaml.safe_load(recipe.read_text())
    cfg = TrainConfig(out="runs/x", **values)
    cfg.validate()
    assert cfg.arch in list_models()
    from segblur.training.models import create_model

    with torch.device("meta"):  # the options are accepted by the builder; no memory for the weights
        create_model(cfg.arch, 21, **cfg.arch_kwargs)
