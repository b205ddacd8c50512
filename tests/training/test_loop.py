"""The training loop: run folder, learning, exact resume (plateau, poly and cosine), early stopping, tracking,
DDP on CPU, and a person mix with teacher masks."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import RunStoppedError, make_folder_dataset, stop_after  # noqa: E402

from segblur.training.checkpoint import load  # noqa: E402
from segblur.training.config import TrainConfig  # noqa: E402
from segblur.training.export import checkpoint_metadata  # noqa: E402
from segblur.training.loop import Trainer  # noqa: E402


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
    (tmp_path / "soup").mkdir()
    (tmp_path / "soup" / "best.pt").write_bytes(b"a soup's weights")  # best.pt without last.pt: not overwritten
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(cfg(folder, tmp_path / "soup", epochs=1), quiet=True).fit()
    assert (tmp_path / "soup" / "best.pt").read_bytes() == b"a soup's weights"
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        Trainer(cfg(folder, tmp_path / "none"), resume=True, quiet=True).fit()
    with pytest.raises(ValueError, match="image_size"):
        Trainer(cfg(folder, tmp_path / "r", epochs=2, image_size=64), resume=True, quiet=True).fit()


def test_sgd_poly_schedule_decays_to_min_lr(folder: Path, tmp_path: Path) -> None:
    Trainer(cfg(folder, tmp_path / "p", optimizer="sgd", schedule="poly", lr=0.05, min_lr=1e-3, epochs=2),
            quiet=True).fit()
    rows = read_log(tmp_path / "p" / "log.csv")
    lrs = [float(r["lr"]) for r in rows]
    assert 1e-3 < lrs[0] < 0.05 and lrs[-1] == pytest.approx(1e-3)


def test_cosine_resume_is_exact_bit_for_bit(folder: Path, tmp_path: Path) -> None:
    # One-cycle cosine steps every batch (and cycles Adam's beta1): an interrupted run resumed must match.
    kw = dict(schedule="cosine", epochs=3, warmup=0.3, min_lr=1e-5)
    Trainer(cfg(folder, tmp_path / "straight", **kw), quiet=True).fit()
    with pytest.raises(RunStoppedError):
        Trainer(cfg(folder, tmp_path / "split", **kw), quiet=True, on_epoch=stop_after(2)).fit()
    assert load(tmp_path / "split" / "last.pt")["epoch"] == 1
    Trainer(cfg(folder, tmp_path / "split", **kw), resume=True, quiet=True).fit()
    a, b = load(tmp_path / "straight" / "last.pt"), load(tmp_path / "split" / "last.pt")
    assert a["epoch"] == b["epoch"] == 2
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    for k, state in a["optimizer"]["state"].items():
        for name, value in state.items():
            assert torch.equal(value, b["optimizer"]["state"][k][name]), (k, name)
    assert a["optimizer"]["param_groups"][0]["betas"] == b["optimizer"]["param_groups"][0]["betas"]
    assert a["scheduler"] == b["scheduler"]
    lrs = [float(r["lr"]) for r in read_log(tmp_path / "split" / "log.csv")]
    assert lrs == [float(r["lr"]) for r in read_log(tmp_path / "straight" / "log.csv")]
    with pytest.raises(ValueError, match="schedule was laid out for 9 steps and this run has 12"):
        Trainer(cfg(folder, tmp_path / "split", **{**kw, "epochs": 4}), resume=True, quiet=True).fit()


def test_early_stopping(folder: Path, tmp_path: Path) -> None:
    # A learning rate of ~0 cannot improve the score after epoch 1, so patience 2 stops after epoch 3.
    summary = Trainer(cfg(folder, tmp_path / "e", epochs=10, lr=1e-12, early_stop=2), quiet=True).fit()
    assert summary["stopped_early"] and summary["epochs_run"] == 3


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


def test_resuming_an_early_stopped_run_trains_no_more(folder: Path, tmp_path: Path) -> None:
    Trainer(cfg(folder, tmp_path / "e", epochs=10, lr=1e-12, early_stop=2), quiet=True).fit()
    before = load(tmp_path / "e" / "last.pt")["epoch"]
    summary = Trainer(cfg(folder, tmp_path / "e", epochs=10, lr=1e-12, early_stop=2), resume=True, quiet=True).fit()
    assert load(tmp_path / "e" / "last.pt")["epoch"] == before and summary["stopped_early"]


def person_mix(tmp_path: Path) -> tuple[dict, Path]:
    """A small person mix (Shen-like portraits, people-hd with teacher masks) and a backgrounds folder."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)

    def add(name: str, ids: list[str], splits: dict[str, list[str]], masks: Path) -> None:
        (root / name / "images").mkdir(parents=True)
        (root / name / "splits").mkdir()
        masks.mkdir(parents=True, exist_ok=True)
        for sid in ids:
            img = rng.integers(0, 90, (40, 30, 3), dtype=np.uint8)
            mask = np.zeros((40, 30), np.uint8)
            mask[12:, 9:21] = 1
            img[mask == 1] = (230, 40, 40)
            cv2.imwrite(str(root / name / "images" / f"{sid}.jpg"), img[:, :, ::-1])
            truth = masks.parent.name != "labels"
            cv2.imwrite(str(masks / f"{sid}.png"), mask * 255 if truth else np.where(mask[:, ::-1] > 1, 255, mask))
        for split, listed in splits.items():
            (root / name / "splits" / f"{split}.txt").write_text("\n".join(listed) + "\n")

    add("flickr-portraits-shen2016", [f"s{i}" for i in range(7)],
        {"train": ["s0", "s1", "s2", "s3"], "test": ["s4"], "unlisted": ["s5", "s6"]},
        root / "flickr-portraits-shen2016" / "masks")
    add("people-hd", ["h0", "h1", "h2"], {"train": ["h0", "h1", "h2"]}, tmp_path / "labels")
    bgs = tmp_path / "bgs"
    bgs.mkdir()
    cv2.imwrite(str(bgs / "room.jpg"), rng.integers(0, 255, (50, 60, 3), dtype=np.uint8))
    mix = {"root": str(root), "train": [{"set": "flickr-portraits-shen2016", "split": "train"},
                                        {"set": "people-hd", "split": "train", "weight": 2.0,
                                         "masks": str(tmp_path / "labels")}],
           "val": [{"set": "flickr-portraits-shen2016", "split": "unlisted"}]}
    return mix, bgs


def test_person_mix_with_weights_teacher_masks_and_backgrounds(tmp_path: Path) -> None:
    mix, bgs = person_mix(tmp_path)
    summary = Trainer(cfg(tmp_path, tmp_path / "run", data=mix, arch="fastseg", arch_kwargs={"width": 0.25},
                          schedule="cosine", monitor="iou_person", backgrounds=str(bgs), batch_size=2, epochs=2),
                      quiet=True).fit()
    config = summary["config"]
    assert config["train_samples"] == 7 and config["epoch_samples"] == 4 + 6 and config["val_samples"] == 2
    assert config["mean"] == [127.5] * 3 and config["std"] == [127.5] * 3 and config["classes"] == [
        "background", "person"]
    assert summary["monitor"] == "iou_person" and summary["best"] is not None
    assert load(tmp_path / "run" / "last.pt")["scheduler"]["total_steps"] == 2 * 5
    with pytest.raises(ValueError, match="no class 'cat'"):
        Trainer(cfg(tmp_path, tmp_path / "run2", data=mix, monitor="iou_cat"), quiet=True).fit()


def test_person_views_keep_their_aspect_ratio_with_resize_keep(tmp_path: Path, monkeypatch) -> None:
    # resize: keep trains on batches of one kept-aspect shape each and validates every image at its own aspect.
    mix, bgs = person_mix(tmp_path)
    seen: list[tuple[int, ...]] = []
    trainer = Trainer(cfg(tmp_path, tmp_path / "run", data=mix, arch="fastseg", arch_kwargs={"width": 0.25},
                          resize="keep", image_size=64, monitor="iou_person", backgrounds=str(bgs), batch_size=2,
                          epochs=3), quiet=True)
    build = trainer._build

    def build_and_watch() -> None:
        build()
        trainer.model.register_forward_pre_hook(lambda _m, args: seen.append(tuple(args[0].shape)))

    monkeypatch.setattr(trainer, "_build", build_and_watch)
    summary = trainer.fit()
    assert summary["config"]["resize"] == "keep" and summary["best"] is not None
    train_shapes = {s[2:] for s in seen if s[0] == 2}
    assert len(train_shapes) > 1 and all(h % 16 == 0 and w % 16 == 0 and 0.7 < h * w / 64**2 < 1.4
                                         for h, w in train_shapes)
    assert (80, 48) in {s[2:] for s in seen if s[0] == 1}  # a 40x30 portrait keeps its 4:3 (no 64x64 stretch)
    meta = checkpoint_metadata(load(tmp_path / "run" / "best.pt"), "keep")
    assert meta["input"]["resize"] == "keep" and meta["input"]["size"] == [64, 64]


def test_a_recipe_s_augment_changes_reach_the_training_views(tmp_path: Path) -> None:
    mix, bgs = person_mix(tmp_path)
    base = dict(data=mix, arch="fastseg", arch_kwargs={"width": 0.25}, backgrounds=str(bgs), monitor="iou_person")
    trainer = Trainer(cfg(tmp_path, tmp_path / "run", augment={"paste_scale": [0.2, 1.0], "p_background": 0.5},
                          **base), quiet=True)
    trainer._build()
    assert trainer.train_ds.augment.paste_scale == (0.2, 1.0) and trainer.train_ds.augment.p_background == 0.5
    with pytest.raises(ValueError, match="'paste_size' is not an option of the person preset"):
        Trainer(cfg(tmp_path, tmp_path / "run2", augment={"paste_size": [0.2, 1.0]}, **base), quiet=True)._build()


def test_warm_restart_from_a_cosine_run(folder: Path, tmp_path: Path) -> None:
    # Stage 2 of the person recipe: a new run whose weights start from another run's last.pt (--pretrained).
    Trainer(cfg(folder, tmp_path / "one", schedule="cosine", epochs=1, min_lr=1e-5), quiet=True).fit()
    first = load(tmp_path / "one" / "last.pt")["model"]
    trainer = Trainer(cfg(folder, tmp_path / "two", schedule="cosine", epochs=1, lr=1e-3, min_lr=1e-6,
                          pretrained=str(tmp_path / "one" / "last.pt")), quiet=True)
    trainer._build()
    for k, v in trainer.model.state_dict().items():
        assert torch.equal(v, first[k]), k


@pytest.mark.parametrize("when", ["after", "before"])
def test_a_run_killed_around_last_pt_logs_every_epoch_once_after_resume(folder: Path, tmp_path: Path,
                                                                        monkeypatch, when: str) -> None:
    # Killed right after last.pt of epoch 2 was written, the run lost that epoch's log.csv row; killed just before,
    # a row without a checkpoint must not appear twice once epoch 2 runs again.
    import segblur.training.loop as loop

    real = loop.save

    def dying_save(state: dict, path: Path) -> None:
        if Path(path).name == "last.pt" and state["epoch"] == 1:
            if when == "after":
                real(state, path)
            raise RunStoppedError
        real(state, path)

    monkeypatch.setattr(loop, "save", dying_save)
    with pytest.raises(RunStoppedError):
        Trainer(cfg(folder, tmp_path / "k", epochs=3), quiet=True).fit()
    monkeypatch.setattr(loop, "save", real)
    Trainer(cfg(folder, tmp_path / "k", epochs=3), resume=True, quiet=True).fit()
    assert [r["epoch"] for r in read_log(tmp_path / "k" / "log.csv")] == ["1", "2", "3"]


@pytest.mark.parametrize(("arch", "kwargs", "layout"), [("unet", {"width": 4}, True), ("fastseg", {}, True),
                                                        ("deconvnet", {"width": 0.125}, False)])
def test_channels_last_on_cpu_unless_the_architecture_says_no(folder: Path, tmp_path: Path, arch: str,
                                                              kwargs: dict, layout: bool) -> None:
    """The trainer lays weights and batches out channels-last on CPU too (faster there); DeconvNet opts out."""
    trainer = Trainer(cfg(folder, tmp_path / "run", arch=arch, arch_kwargs=kwargs), quiet=True)
    trainer._build()
    assert trainer.channels_last is layout
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] > 1)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) is layout
    off = Trainer(cfg(folder, tmp_path / "off", arch=arch, arch_kwargs=kwargs, channels_last=False), quiet=True)
    off._build()
    assert off.channels_last is False


def test_training_flushes_subnormal_floats_and_restores_the_setting(folder: Path, tmp_path: Path) -> None:
    """Subnormals take x86's slow path (a fine-tuning step 2.2x slower): training flushes them to zero, and leaves
    the process as it found it (other code may rely on them)."""
    from segblur.training.loop import flushing_subnormals

    seen = []
    torch.set_flush_denormal(False)
    assert not flushing_subnormals()
    Trainer(cfg(folder, tmp_path / "run", epochs=1), quiet=True,
            on_epoch=lambda epoch, metrics: seen.append(flushing_subnormals())).fit()
    assert seen == [True]
    assert not flushing_subnormals()


@pytest.mark.parametrize("schedule", ["plateau", "poly", "cosine"])
def test_a_learning_rate_changed_on_resume_applies(folder: Path, tmp_path: Path, schedule: str) -> None:
    """Resumed with another lr (and weight decay), the run continues on the new curve, not the checkpoint's."""
    kw = dict(schedule=schedule, epochs=3, min_lr=1e-6)
    new = dict(lr=1e-4, weight_decay=0.0)
    Trainer(cfg(folder, tmp_path / "straight", **kw, **new), quiet=True).fit()
    with pytest.raises(RunStoppedError):
        Trainer(cfg(folder, tmp_path / "split", **kw), quiet=True, on_epoch=stop_after(1)).fit()
    Trainer(cfg(folder, tmp_path / "split", **kw, **new), resume=True, quiet=True).fit()
    straight = [float(r["lr"]) for r in read_log(tmp_path / "straight" / "log.csv")]
    split = [float(r["lr"]) for r in read_log(tmp_path / "split" / "log.csv")]
    assert split[0] != pytest.approx(straight[0])  # epoch 1 ran at lr 3e-3
    assert split[1:] == pytest.approx(straight[1:], rel=1e-6, abs=1e-12)
    group = load(tmp_path / "split" / "last.pt")["optimizer"]["param_groups"][0]
    assert group["weight_decay"] == 0.0 and group.get("max_lr", group.get("initial_lr", 1e-4)) == 1e-4


def test_resume_refuses_another_network_before_building_it(folder: Path, tmp_path: Path, monkeypatch) -> None:
    """A resumed run that names another architecture, option, input size or classes is refused before the network is
    built (a wrong one may not fit in memory: DeconvNet did not), naming the checkpoint and the setting."""
    import segblur.training.loop as loop

    Trainer(cfg(folder, tmp_path / "r", epochs=1), quiet=True).fit()
    last = tmp_path / "r" / "last.pt"

    def no_network(*args, **kwargs):
        raise AssertionError("the network was built")

    monkeypatch.setattr(loop, "create_model", no_network)
    for change, message in [({"arch": "deconvnet", "arch_kwargs": {}}, "the checkpoint's arch is 'unet', this "
                             "run's is 'deconvnet'"),
                            ({"arch_kwargs": {"width": 8}}, "the checkpoint's arch option width is 4, this run's is 8"),
                            ({"image_size": 64}, "the checkpoint's image_size is 32, this run's is 64")]:
        with pytest.raises(ValueError, match=message) as e:
            Trainer(cfg(folder, tmp_path / "r", epochs=2, **change), resume=True, quiet=True).fit()
        assert str(e.value).startswith(f"{last}: cannot resume")
    ck = load(last)
    ck["config"]["classes"] = ["background", "foreground", "sky"]
    torch.save(ck, last)
    with pytest.raises(ValueError, match=r"last.pt: cannot resume, the checkpoint's classes are \['background', "
                       r"'foreground', 'sky'\], this run's are \['background', 'foreground'\]"):
        Trainer(cfg(folder, tmp_path / "r", epochs=2), resume=True, quiet=True).fit()


class _Signals(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> bool:
        import signal

        return [signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGHUP)] == [signal.SIG_IGN] * 2


@pytest.mark.skipif(sys.platform == "win32", reason="SIGHUP")
def test_data_loading_workers_leave_ctrl_c_to_the_main_process() -> None:
    """A terminal's Ctrl-C reaches the workers too; the main process ends the run (130) and them."""
    from segblur.training.workers import batches, quiet_worker

    loader = torch.utils.data.DataLoader(_Signals(), num_workers=1, worker_init_fn=quiet_worker,
                                         collate_fn=lambda items: items[0])
    with batches(loader) as it:
        assert list(it) == [True]


def test_ctrl_c_while_a_checkpoint_is_written_comes_after_it(folder: Path, tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C inside torch.save's writer ended the run with "unexpected pos ..." (exit 2) and no last.pt."""
    import signal

    import segblur.training.loop as loop

    real = loop.save

    def interrupted_save(state: dict, path: Path) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        real(state, path)

    monkeypatch.setattr(loop, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg(folder, tmp_path / "run", epochs=2), quiet=True).fit()
    assert load(tmp_path / "run" / "last.pt")["epoch"] == 0 and (tmp_path / "run" / "best.pt").is_file()
