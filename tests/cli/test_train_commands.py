"""``segblur train``, ``segblur export`` and ``segblur tune`` as doors: options over recipes over a resumed run,
one-line errors, a trained model exported and run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

torch = pytest.importorskip("torch")

from conftest import make_folder_dataset  # noqa: E402

from segblur.cli.main import main  # noqa: E402
from segblur.training.checkpoint import load  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "discs")


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
    for out in (folder, folder / "run"):  # a run folder in the data folder (or the data folder itself)
        code = main(["train", "--data", f"folder:{folder}", "--arch", "unet", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and str(out) in err and len(err.strip().splitlines()) == 1
    assert not (folder / "run").exists() and not (folder / "log.csv").exists()
    (tmp_path / "taken").write_text("x")
    for out in (tmp_path / "taken", tmp_path / "taken" / "run"):  # a file, or a folder under one: said up front
        code = main(["train", "--data", f"folder:{folder}", "--arch", "unet", "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and err.startswith(f"segblur: error: {out}:") and "not a folder" in err
        assert len(err.strip().splitlines()) == 1


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
    assert main(["export", str(junk), "-o", str(tmp_path / "x.txt")]) == 2  # it wrote ONNX into x.txt
    assert "name it x.onnx" in capsys.readouterr().err and not (tmp_path / "x.txt").exists()


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
    assert main(["train", "--data", f"folder:{folder}", "--arch", "unet", "--augment", "paste_scale=big",
                 "--out", str(tmp_path / "r3"), "-q", "--no-tensorboard"]) == 2
    err = capsys.readouterr().err
    assert "paste_scale" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_cli_augment_options_reach_the_run(folder: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", f"folder:{folder}", "--arch", "unet", "--arch-option", "width=4",
                 "--augment", "scale=[0.8,1.2]", "--augment", "flip=false", "--image-size", "32",
                 "--batch-size", "3", "--epochs", "1", "--threads", "1", "--out", str(run), "-q",
                 "--no-tensorboard"]) == 0
    assert load(run / "last.pt")["config"]["augment"] == {"scale": [0.8, 1.2], "flip": False}


def test_export_stores_an_evaluate_report_as_a_summary(folder: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    assert main(["train", "--data", f"folder:{folder}", "--arch", "unet", "--arch-option", "width=4", "--epochs", "1",
                 "--batch-size", "3", "--image-size", "32", "--threads", "1", "--out", str(run), "-q",
                 "--no-tensorboard"]) == 0
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
    assert main(["models", str(model)]) == 2  # `models` lists the built-in models: a path is refused in one line
    err = capsys.readouterr().err
    assert "no built-in model" in err and str(model) in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    assert main(["export", str(run / "best.pt"), "-o", str(tmp_path / "x.onnx"), "--metrics", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err


def test_cli_train_person_recipe_from_another_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """A recipe's relative data path is the recipe's: the run starts wherever the command is typed."""
    from conftest import REPO

    recipe = REPO / "recipes" / "person.yaml"
    data = REPO.parent / "shared" / "data"
    if not (data / "flickr-portraits-shen2016").is_dir():
        pytest.skip(f"{data} not present")
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    assert main(["train", "--config", str(recipe), "--out", str(run), "--epochs", "1", "--steps-per-epoch", "1",
                 "--batch-size", "2", "--val-limit", "2", "--image-size", "64", "--arch-option", "width=0.25",
                 "--threads", "1", "--no-tensorboard", "-q"]) == 0
    config = load(run / "last.pt")["config"]
    assert config["data"].startswith("person:") and config["monitor"] == "iou_person"
    assert config["epoch_samples"] == 1286 + 2 * 247


@pytest.mark.parametrize("option", ["--min-lr", "--weight-decay", "--teacher-weight"])
def test_a_negative_rate_or_weight_is_refused_as_the_options_are_read(option: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["train", "--data", "folder:x", "--arch", "unet", "--out", str(tmp_path / "r"), option, "-1"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument {option}: must be >= 0, got -1" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("command", "option", "value", "message"), [
    ("train", "--workers", "1000", "1000 is outside 0..64"),
    ("tune", "--workers", "65", "65 is outside 0..64"),
    ("train", "--image-size", str(10**9), f"{10**9} is outside 32..8192"),
    ("tune", "--image-size", "8193", "8193 is outside 32..8192"),
    ("train", "--seed", str(2**70), f"{2**70} is outside 0..{2**63 - 1}"),
])
def test_out_of_range_limits_are_refused_before_a_run_folder_exists(command: str, option: str, value: str,
                                                                     message: str, tmp_path: Path, capsys) -> None:
    # No data: were the value let through, the run would stop at once (1000 workers hung it) instead of exiting here.
    extra = ["--trials", "1"] if command == "tune" else []
    with pytest.raises(SystemExit) as e:
        main([command, "--data", f"folder:{tmp_path / 'none'}", "--arch", "unet", "--out", str(tmp_path / "r"),
              option, value, *extra])
    err = capsys.readouterr().err
    assert e.value.code == 2 and f"argument {option}: {message}" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists()


def test_the_largest_seed_trains(folder: Path, tmp_path: Path) -> None:
    assert main(["train", "--data", f"folder:{folder}", "--arch", "unet", "--arch-option", "width=4", "--epochs", "1",
                 "--batch-size", "3", "--image-size", "32", "--threads", "1", "--seed", str(2**63 - 1),
                 "--out", str(tmp_path / "r"), "-q", "--no-tensorboard"]) == 0
    assert load(tmp_path / "r" / "last.pt")["config"]["seed"] == 2**63 - 1


def test_resume_with_another_network_is_one_line_naming_the_checkpoint(folder: Path, tmp_path: Path, capsys,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import segblur.training.loop as loop

    run = tmp_path / "run"
    common = ["--no-tensorboard", "-q", "--threads", "1"]
    assert main(["train", "--data", f"folder:{folder}", "--arch", "unet", "--arch-option", "width=4",
                 "--image-size", "32", "--batch-size", "3", "--epochs", "1", "--out", str(run), *common]) == 0
    capsys.readouterr()
    monkeypatch.setattr(loop, "create_model", lambda *a, **k: pytest.fail("the network was built"))
    for change, setting in [(["--arch", "deconvnet"], "arch"), (["--arch-option", "width=8"], "arch option width")]:
        assert main(["train", "--out", str(run), "--resume", "--epochs", "2", *change, *common]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"segblur: error: {run / 'last.pt'}: cannot resume, the checkpoint's {setting} is ")
        assert len(err.strip().splitlines()) == 1 and "changed settings" not in err


# Ctrl-C at the worst moment, made certain: as the first DataLoader worker is forked (the process group gets it, as
# from a terminal). Python raises a signal that comes during a fork in its after-fork hooks, which swallow it: the run
# went on without its Ctrl-C while the new worker, which got it too, died ("DataLoader worker exited unexpectedly",
# exit 2), or the run finished (exit 0).
CTRL_C_AT_FORK = """
import os, signal, sys, traceback
from segblur.cli.main import main

sent = []

def ctrl_c() -> None:
    if not sent and "dataloader" in "".join(traceback.format_stack()):
        sent.append(True)
        os.killpg(0, signal.SIGINT)

os.register_at_fork(after_in_parent=ctrl_c)
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_as_data_loading_workers_start_ends_the_run_as_interrupted(folder: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    run = tmp_path / "run"
    cmd = [sys.executable, "-c", CTRL_C_AT_FORK, "train", "--data", f"folder:{folder}", "--arch", "unet",
           "--arch-option", "width=4", "--image-size", "32", "--batch-size", "3", "--epochs", "3", "--workers", "2",
           "--threads", "1", "--out", str(run), "--no-tensorboard", "-q"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, start_new_session=True)
    assert res.returncode == 130, res.stderr[-2000:]
    assert res.stderr.strip().splitlines()[-1] == "segblur: interrupted", res.stderr[-2000:]
    assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr, res.stderr[-2000:]
    assert not (run / "last.pt").exists()


def test_val_split_test_trains_on_the_whole_train_list_and_evaluate_tells_derived_splits(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A folder with train and test lists: --val-split test trains on all 9 listed images (a tenth was held out for
    a validation that never ran), and evaluate says when it scores a split derived from the folder."""
    data = make_folder_dataset(tmp_path / "d")
    (data / "splits" / "val.txt").rename(data / "splits" / "test.txt")
    code = main(["train", "--data", f"folder:{data}", "--arch", "unet", "--arch-option", "width=4", "--image-size",
                 "32", "--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "3", "--threads", "1",
                 "--no-tensorboard", "--val-split", "test", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "[train-all: 9, test: 3]" in err and "every 10th" not in err, err
    code = main(["evaluate", "--model", str(tmp_path / "run" / "best.pt"), "--data", f"folder:{data}", "--split",
                 "val", "-q"])
    err = capsys.readouterr().err
    assert code == 0 and "note: " in err and "validating on every 10th image of the training list" in err, err
