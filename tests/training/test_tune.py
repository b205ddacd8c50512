"""The Optuna tuner: pruning, batch sizes that fit the split, failed trials, seeding, storage errors, the CLI."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
optuna = pytest.importorskip("optuna")

from conftest import make_folder_dataset  # noqa: E402

from segblur.cli.main import main  # noqa: E402
from segblur.training import tune as tune_mod  # noqa: E402
from segblur.training.checkpoint import load  # noqa: E402
from segblur.training.config import TrainConfig  # noqa: E402
from segblur.training.loop import Trainer  # noqa: E402
from segblur.training.tune import tune  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    return make_folder_dataset(tmp_path_factory.mktemp("data") / "discs")  # 9 train, 3 val


def cfg(folder: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data=f"folder:{folder}", arch="unet", out=str(out), epochs=1, batch_size=3, image_size=32,
                lr=3e-3, arch_kwargs={"width": 4}, tensorboard=False, seed=3, threads=1, steps_per_epoch=1)
    base.update(kw)
    return TrainConfig(**base)


def trial_number(config: TrainConfig) -> int:
    return int(Path(config.out).name.split("-")[1])


class FakeTrainer:
    """Stands in for Trainer: reports ``score(config)`` every epoch through the tuner's callback, trains nothing."""

    made: list[TrainConfig] = []
    score = staticmethod(lambda config: 0.5)

    def __init__(self, config: TrainConfig, *, quiet: bool = False, on_epoch=None) -> None:
        self.cfg, self.on_epoch = config, on_epoch
        FakeTrainer.made.append(config)

    def fit(self) -> dict:
        value = FakeTrainer.score(self.cfg)
        for epoch in range(self.cfg.epochs):
            self.on_epoch(epoch, {"mean_iou": float("nan") if value is None else value})
        return {"best": value}


@pytest.fixture
def fake(monkeypatch) -> type[FakeTrainer]:
    FakeTrainer.made = []
    FakeTrainer.score = staticmethod(lambda config: config.lr * 100)
    monkeypatch.setattr(tune_mod, "Trainer", FakeTrainer)
    return FakeTrainer


def trials(out: Path, storage: str | None = None) -> list:
    storage = storage or f"sqlite:///{(out / 'study.db').resolve()}"
    return optuna.load_study(study_name=out.resolve().name, storage=storage).trials


# ------------------------------------------------------------------------------------------- pruning

def test_median_pruner_stops_a_lagging_trial_mid_run(folder: Path, tmp_path: Path, monkeypatch) -> None:
    """Real training; only the reported score is replaced: trials 0 and 1 score 0.9, trial 2 scores 0.1."""

    class ScoredTrainer(Trainer):
        def __init__(self, config: TrainConfig, **kw) -> None:
            report, score = kw.pop("on_epoch"), 0.9 if trial_number(config) < 2 else 0.1
            super().__init__(config, on_epoch=lambda epoch, m: report(epoch, {**m, "mean_iou": score}), **kw)

    monkeypatch.setattr(tune_mod, "Trainer", ScoredTrainer)
    out = tmp_path / "study"
    result = tune(cfg(folder, out, epochs=3, val_limit=1), trials=3, quiet=True)
    ts = trials(out)
    states = [t.state for t in ts]
    assert states == [optuna.trial.TrialState.COMPLETE] * 2 + [optuna.trial.TrialState.PRUNED]
    assert ts[2].intermediate_values == {0: 0.1, 1: 0.1}  # epoch 1 is warm-up; pruned after epoch 2 of 3
    assert ts[0].intermediate_values == {0: 0.9, 1: 0.9, 2: 0.9}
    assert load(out / "trial-0002" / "last.pt")["epoch"] == 1 and load(out / "trial-0000" / "last.pt")["epoch"] == 2
    assert not (out / "trial-0002" / "metrics.json").exists()
    assert result["pruned"] == 1 and result["trials"] == 3 and result["best_trial"] in (0, 1)
    assert json.loads((out / "best.json").read_text())["pruned"] == 1


# ------------------------------------------------------------------------------------------- trials that cannot run

def test_batch_choices_fit_the_split() -> None:
    assert tune_mod.batch_choices(100) == [4, 8, 16]
    assert tune_mod.batch_choices(9) == [4, 8]
    assert tune_mod.batch_choices(4) == [4]
    assert tune_mod.batch_choices(3) == [3]


def test_batch_sizes_drawn_only_from_those_that_fit(tmp_path: Path, fake) -> None:
    small = make_folder_dataset(tmp_path / "small", n=8)  # 6 training images: only batch size 4 fits
    out = tmp_path / "study"
    result = tune(cfg(small, out), trials=3, quiet=True)
    assert result["trials"] == 3 and result["failed"] == 0
    assert [c.batch_size for c in fake.made] == [4, 4, 4]
    assert all(t.distributions["batch_size"].choices == (4,) for t in trials(out))


def test_a_trial_without_a_score_fails_and_the_study_goes_on(folder: Path, tmp_path: Path, fake) -> None:
    fake.score = staticmethod(lambda config: None if trial_number(config) == 0 else 0.5)
    result = tune(cfg(folder, tmp_path / "study"), trials=3, quiet=True)
    states = [t.state for t in trials(tmp_path / "study")]
    assert states == [optuna.trial.TrialState.FAIL] + [optuna.trial.TrialState.COMPLETE] * 2
    assert result["failed"] == 1 and result["best_trial"] in (1, 2) and result["best_value"] == 0.5


def test_bad_dataset_is_one_error_before_any_trial(tmp_path: Path, fake) -> None:
    data = make_folder_dataset(tmp_path / "data")
    for p in (data / "masks").iterdir():
        p.unlink()
    (data / "masks").rmdir()
    with pytest.raises(ValueError, match=r"masks: no masks folder"):
        tune(cfg(data, tmp_path / "study"), trials=2, quiet=True)
    assert fake.made == []


def test_bad_augment_is_one_error_before_any_trial(folder: Path, tmp_path: Path, fake) -> None:
    base = dataclasses.replace(cfg(folder, tmp_path / "study"), augment={"rotate": -5})
    with pytest.raises(ValueError, match="augment: rotate must be at least 0"):
        tune(base, trials=2, quiet=True)
    assert fake.made == [] and not (tmp_path / "study").exists()


# ------------------------------------------------------------------------------------------- seeding

def test_default_storage_is_reproducible_and_continues_with_new_points(folder: Path, tmp_path: Path, fake) -> None:
    tune(cfg(folder, tmp_path / "a" / "study"), trials=1, quiet=True)
    tune(cfg(folder, tmp_path / "b" / "study"), trials=1, quiet=True)
    a, b = trials(tmp_path / "a" / "study"), trials(tmp_path / "b" / "study")
    assert a[0].params == b[0].params  # same seed, same local study: same draws
    tune(cfg(folder, tmp_path / "a" / "study"), trials=1, quiet=True)  # a later run continues the study
    a = trials(tmp_path / "a" / "study")
    assert len(a) == 2 and a[1].params["lr"] != a[0].params["lr"]


def test_shared_storage_workers_do_not_repeat_each_others_draws(folder: Path, tmp_path: Path, fake) -> None:
    firsts = []
    for worker in ("w1", "w2"):  # same seed, each on a fresh study: a shared study's workers would start alike
        storage = f"sqlite:///{(tmp_path / f'{worker}.db').resolve()}"
        tune(cfg(folder, tmp_path / worker / "study"), trials=1, storage=storage, quiet=True)
        firsts.append(trials(tmp_path / worker / "study", storage)[0].params)
    assert firsts[0]["lr"] != firsts[1]["lr"]


def test_workers_join_one_shared_study(folder: Path, tmp_path: Path, fake) -> None:
    storage = f"sqlite:///{(tmp_path / 'shared.db').resolve()}"
    tune(cfg(folder, tmp_path / "m1"), trials=2, storage=storage, study_name="s", quiet=True)
    result = tune(cfg(folder, tmp_path / "m2"), trials=1, storage=storage, study_name="s", quiet=True)
    assert result["trials"] == 3 and result["study"] == "s"
    made = sorted(Path(c.out).relative_to(tmp_path).as_posix() for c in fake.made)
    assert made == ["m1/trial-0000", "m1/trial-0001", "m2/trial-0002"]  # trial numbers are the study's


# ------------------------------------------------------------------------------------------- storage errors

@pytest.mark.parametrize(("storage", "reason"), [
    ("notaurl", "Could not parse SQLAlchemy URL"),
    ("postgresql://user:secret@localhost:1/db", "database driver missing"),
    ("sqlite:///{tmp}/file.txt/study.db", "unable to open database file"),
    ("foo://bar", "Can't load plugin"),
])
def test_storage_problems_are_one_line(folder: Path, tmp_path: Path, fake, storage: str, reason: str) -> None:
    pytest.importorskip("sqlalchemy")
    if storage.startswith("postgresql"):
        try:
            import psycopg2  # noqa: F401
            pytest.skip("a PostgreSQL driver is installed")
        except ImportError:
            pass
    (tmp_path / "file.txt").write_text("x")
    storage = storage.format(tmp=tmp_path)
    with pytest.raises(ValueError) as err:
        tune(cfg(folder, tmp_path / "study"), trials=1, storage=storage, quiet=True)
    message = str(err.value)
    assert "\n" not in message and reason in message and "secret" not in message
    assert message.startswith(f"{storage.replace(':secret@', ':***@')}: cannot open the study (")
    assert fake.made == []


# ------------------------------------------------------------------------------------------- the CLI

def test_cli_tune_prints_the_best_trial(folder: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "search"
    rc = main(["tune", "--data", f"folder:{folder}", "--arch", "unet", "--arch-option", "width=4", "--out", str(out),
               "--epochs", "2", "--image-size", "32", "--trials", "2", "--steps-per-epoch", "1", "--val-limit", "2",
               "--no-tensorboard", "--threads", "1", "-q"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    best = json.loads((out / "best.json").read_text())
    assert best["trials"] == 2 and set(best["best_params"]) == {"lr", "weight_decay", "optimizer", "batch_size"}
    line = captured.out.strip()
    assert line.startswith(f"segblur: study search: best mean_iou {best['best_value']:.4f} with ")
    assert f"(trial {best['best_trial']}, 2 trials in the study)" in line
    assert (out / f"trial-{best['best_trial']:04d}" / "best.pt").is_file()


@pytest.mark.parametrize(("extra", "expected"), [
    (["--storage", "notaurl"], "segblur: error: notaurl: cannot open the study (Could not parse"),
    (["--data", "folder:{nomasks}"], "segblur: error: {nomasks}/masks: no masks folder"),
])
def test_cli_tune_errors_are_one_line_exit_2(folder: Path, tmp_path: Path, capsys, extra: list[str],
                                             expected: str) -> None:
    nomasks = tmp_path / "nomasks"
    (nomasks / "images").mkdir(parents=True)
    cv2.imwrite(str(nomasks / "images" / "a.png"), np.zeros((8, 8, 3), np.uint8))
    args = ["tune", "--data", f"folder:{folder}", "--arch", "unet", "--out", str(tmp_path / "search"),
            "--trials", "1", "-q"]
    rc = main(args + [a.format(nomasks=nomasks) for a in extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert "\n" not in err and err.startswith(expected.format(nomasks=nomasks)), err


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


def test_ctrl_c_during_a_trial_is_one_line_without_optuna_traceback(folder: Path, tmp_path: Path, fake,
                                                                   caplog: pytest.LogCaptureFixture,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    def interrupted(config: TrainConfig) -> float:
        raise KeyboardInterrupt  # Ctrl-C, or SIGTERM through segblur.interrupts

    FakeTrainer.score = staticmethod(interrupted)
    code = main(["tune", "--data", f"folder:{folder}", "--arch", "unet", "--out", str(tmp_path / "t"),
                 "--trials", "3"])
    assert code == 130 and capsys.readouterr().err.strip().splitlines()[-1] == "segblur: interrupted"
    # Optuna logged "Trial 0 failed ... KeyboardInterrupt()" with 7 frames of traceback, and "failed with value None"
    assert not [r for r in caplog.records if r.name.startswith("optuna") and r.levelno >= logging.WARNING]


def test_a_failed_trial_is_one_line_too(folder: Path, tmp_path: Path, fake, caplog: pytest.LogCaptureFixture) -> None:
    def nan(config: TrainConfig) -> float:
        raise FloatingPointError("the loss is nan")

    FakeTrainer.score = staticmethod(nan)
    with pytest.raises(RuntimeError, match="no trial has completed"):
        tune(cfg(folder, tmp_path / "t"), trials=2)
    failed = [r for r in caplog.records if "failed with parameters" in r.getMessage()]
    assert len(failed) == 2 and all("the loss is nan" in r.getMessage() and not r.exc_info for r in failed)
    assert not [r for r in caplog.records if r.exc_info]


def test_a_study_continued_with_other_settings_is_refused(folder: Path, tmp_path: Path, fake) -> None:
    """A second run into the same study with another architecture or size mixed incomparable trials silently."""
    out = tmp_path / "study"
    tune(cfg(folder, out), trials=1, quiet=True)
    tune(cfg(folder, out, threads=2, workers=0, amp=False), trials=1, quiet=True)  # how it runs may change
    tune(cfg(folder, out, data=f"folder:{folder}/./"), trials=1, quiet=True)  # the same data spelled otherwise
    for changed, words in [({"arch": "deconvnet", "arch_kwargs": {"width": 0.125}}, "arch 'unet' -> 'deconvnet'"),
                           ({"image_size": 48}, "image_size 32 -> 48")]:
        with pytest.raises(ValueError, match=f"study study was started with other settings .*{words}"):
            tune(cfg(folder, out, **changed), trials=1, quiet=True)
    assert len(trials(out)) == 3


def test_an_optimizer_or_batch_size_given_is_kept_not_searched(folder: Path, tmp_path: Path, fake,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """tune --batch-size 2 --optimizer sgd reported trials with adam and batch 4: the options were overridden."""
    out = tmp_path / "search"
    rc = main(["tune", "--data", f"folder:{folder}", "--arch", "unet", "--arch-option", "width=4", "--out", str(out),
               "--epochs", "1", "--image-size", "32", "--trials", "3", "--batch-size", "2", "--optimizer", "sgd",
               "--no-tensorboard", "--threads", "1", "-q"])
    assert rc == 0, capsys.readouterr().err
    assert [(c.optimizer, c.batch_size) for c in fake.made] == [("sgd", 2)] * 3
    assert set(json.loads((out / "best.json").read_text())["best_params"]) == {"lr", "weight_decay"}


@pytest.mark.parametrize("schedule, floor", [("poly", 1e-3), ("cosine", 1e-4)])
def test_only_learning_rates_the_schedule_takes_are_drawn(folder: Path, tmp_path: Path, fake, schedule: str,
                                                         floor: float) -> None:
    """With min_lr near lr, a drawn lr at or below it (poly; lr/10 for cosine) failed the config, and the study."""
    result = tune(cfg(folder, tmp_path / "s", lr=3e-3, schedule=schedule, min_lr=floor), trials=8, quiet=True)
    assert result["trials"] == 8 and result["failed"] == 0
    lrs = [c.lr for c in fake.made]
    assert all(lr > floor * (1 if schedule == "poly" else 10) for lr in lrs), lrs
    for c in fake.made:
        c.validate()
