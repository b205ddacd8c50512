"""Model soups: the average's arithmetic, the greedy choice, and segblur soup on tiny trained runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn as nn  # noqa: E402
from conftest import make_folder_dataset, one_error_line, run_cli, save_tiny_checkpoint  # noqa: E402

from segblur.training.checkpoint import load  # noqa: E402
from segblur.training.config import TrainConfig  # noqa: E402
from segblur.training.export import export_checkpoint, training_summary  # noqa: E402
from segblur.training.loop import Trainer  # noqa: E402
from segblur.training.soup import average_states, greedy_soup, make_soup  # noqa: E402


def small(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    net.train()(torch.randn(2, 3, 8, 8))  # batch-norm statistics and counter move
    return net


def test_the_average_is_the_element_wise_mean_and_counters_are_the_firsts() -> None:
    states = [small(s).state_dict() for s in range(3)]
    states[1]["1.num_batches_tracked"].fill_(7)
    avg = average_states(states)
    for k, v in states[0].items():
        if v.is_floating_point():
            expected = sum(s[k].double() for s in states) / 3
            assert torch.allclose(avg[k].double(), expected, atol=1e-7), k
            assert avg[k].dtype == v.dtype
    assert avg["1.num_batches_tracked"].item() == 1 and avg["1.num_batches_tracked"].dtype == torch.int64
    one = average_states(states[:1])
    assert all(torch.equal(one[k], states[0][k]) for k in one)  # a soup of one is that checkpoint
    assert one["0.weight"] is not states[0]["0.weight"]  # a copy, not the caller's tensor


def test_the_average_refuses_other_networks() -> None:
    a = small(0).state_dict()
    wider = nn.Sequential(nn.Conv2d(3, 5, 3), nn.BatchNorm2d(5)).state_dict()
    with pytest.raises(ValueError, match="0.weight has shape"):
        average_states([a, wider])
    with pytest.raises(ValueError, match="other tensors"):
        average_states([a, nn.Sequential(nn.Conv2d(3, 4, 3)).state_dict()])
    with pytest.raises(ValueError, match="no checkpoints"):
        average_states([])


def test_greedy_adds_best_first_and_keeps_only_what_does_not_lower_the_score() -> None:
    # One weight w; the score is -|w - 1|: each alone scores -1, -1, -9 and -0.5.
    states = {name: {"w": torch.tensor([w])} for name, w in (("a", 0.0), ("b", 2.0), ("c", 10.0), ("d", 1.5))}
    seen = []
    chosen, best, own, steps = greedy_soup(states, lambda s: -abs(float(s["w"]) - 1.0),
                                           on_step=lambda n, s, k: seen.append((n, k)))
    assert own == {"a": -1.0, "b": -1.0, "c": -9.0, "d": -0.5}
    # d first (-0.5); + a: mean 0.75 (-0.25) kept; + b: mean 1.1667 (-0.1667) kept; + c: mean 3.375, left out.
    assert chosen == ["d", "a", "b"] and best == pytest.approx(-1 / 6)
    assert [(s.name, s.kept) for s in steps] == [("a", True), ("b", True), ("c", False)]
    assert steps[-1].score == pytest.approx(-2.375)
    assert seen[:4] == [("a", None), ("b", None), ("c", None), ("d", None)] and len(seen) == 7


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> tuple[Path, list[Path]]:
    """Two short runs of one tiny U-Net recipe from the same start, different seeds (their best.pt files)."""
    root = tmp_path_factory.mktemp("soup")
    folder = make_folder_dataset(root / "discs")
    save_tiny_checkpoint(root / "start.pt")
    bests = []
    for seed in (1, 2):
        Trainer(recipe(folder, root / f"run{seed}", seed=seed, pretrained=str(root / "start.pt")), quiet=True).fit()
        bests.append(root / f"run{seed}" / "best.pt")
    return folder, bests


def recipe(folder: Path, out: Path, **kw) -> TrainConfig:
    base = dict(data=f"folder:{folder}", arch="unet", out=str(out), epochs=3, batch_size=3, image_size=32, lr=1e-2,
                arch_kwargs={"width": 4}, tensorboard=False, seed=1, threads=1, schedule="cosine", min_lr=1e-4)
    base.update(kw)
    return TrainConfig(**base)


def test_make_soup_writes_a_checkpoint_that_scores_what_it_says(runs, tmp_path: Path) -> None:
    folder, bests = runs
    summary = make_soup(recipe(folder, tmp_path / "soup"), bests, quiet=True)
    own = [load(p)["best"] for p in bests]
    assert [summary["scores"][str(p)] for p in bests] == pytest.approx(own)  # the runs' own validation
    assert summary["best"] >= max(own)  # greedy never ends below its best member
    ck = load(tmp_path / "soup" / "best.pt")
    assert ck["soup"] == summary["checkpoints"] and ck["best"] == summary["best"]
    assert len(ck["soup"]) == 2  # runs from one start: the second one is kept, the weights are their mean
    mean = average_states([load(p)["model"] for p in bests])
    assert all(torch.equal(ck["model"][k], mean[k]) for k in mean)
    # Validated again from the file, the soup scores what soup.json says.
    trainer = Trainer(recipe(folder, tmp_path / "check"), quiet=True)
    trainer.build()
    trainer.eval_model.load_state_dict(ck["model"])
    assert trainer.validate(0)[0]["mean_iou"] == pytest.approx(summary["best"])
    assert json.loads((tmp_path / "soup" / "soup.json").read_text())["checkpoints"] == ck["soup"]
    meta = training_summary(ck)
    assert meta["soup"] == ck["soup"] and "epochs" not in meta
    onnx = export_checkpoint(tmp_path / "soup" / "best.pt", tmp_path / "soup.onnx")
    assert onnx.stat().st_size > 0


def test_uniform_averages_every_checkpoint(runs, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, bests = runs
    summary = make_soup(recipe(folder, tmp_path / "all"), bests, greedy=False)
    line = capsys.readouterr().err.strip()  # the progress: count, rate and ETA
    assert re.fullmatch(r"soup \[1/1\] all: mean_iou \d\.\d{4} kept  \d+\.\d s/validation  ETA 00:00", line), line
    assert summary["checkpoints"] == [str(p) for p in bests] and summary["steps"] == []
    mean = average_states([load(p)["model"] for p in bests])
    ck = load(tmp_path / "all" / "best.pt")
    assert all(torch.equal(ck["model"][k], mean[k]) for k in mean)


def test_the_command_reports_bad_checkpoints_in_one_line(runs, tmp_path: Path, capsys) -> None:
    folder, bests = runs
    config = tmp_path / "recipe.yaml"
    config.write_text(f"data: folder:{folder}\narch: unet\narch_kwargs: {{width: 4}}\nimage_size: 32\n"
                      "tensorboard: false\n")
    code, out, err = run_cli(capsys, "soup", bests[0], bests[1], "--config", config, "--out", tmp_path / "s", "-q")
    assert code == 0 and "soup of" in out and (tmp_path / "s" / "best.pt").is_file()
    # Again into the same folder: refused, nothing overwritten.
    code, _, err = run_cli(capsys, "soup", *bests, "--config", config, "--out", tmp_path / "s", "-q")
    assert code == 2 and "holds a best.pt" in one_error_line(err)
    # A checkpoint of another network (a wider U-Net) is named.
    save_tiny_checkpoint(tmp_path / "other.pt")
    wide = load(tmp_path / "other.pt")
    wide["model"] = {k: torch.cat([v, v]) if v.ndim and v.shape[0] == 4 else v for k, v in wide["model"].items()}
    torch.save(wide, tmp_path / "wide.pt")
    code, _, err = run_cli(capsys, "soup", bests[0], tmp_path / "wide.pt", "--config", config,
                           "--out", tmp_path / "w", "-q")
    line = one_error_line(err)
    assert code == 2 and "wide.pt" in line and "does not fit" in line
    code, _, err = run_cli(capsys, "soup", bests[0], tmp_path / "missing.pt", "--config", config,
                           "--out", tmp_path / "m", "-q")
    assert code == 2 and "missing.pt: no such checkpoint file" in one_error_line(err)
    code, _, err = run_cli(capsys, "soup", bests[0], "--config", config, "--out", tmp_path / "one", "-q")
    assert code == 2 and "at least two" in one_error_line(err)
    # An --out that is a file, or lies under one, is refused before any checkpoint is scored.
    (tmp_path / "taken").write_text("x")
    for out in (tmp_path / "taken", tmp_path / "taken" / "sub"):
        code, out_text, err = run_cli(capsys, "soup", *bests, "--config", config, "--out", out, "-q")
        line = one_error_line(err)
        assert code == 2 and line.startswith(f"segblur: error: {out}:") and "not a folder" in line, line
        assert "soup of" not in out_text


def test_make_soup_refuses_a_checkpoint_given_twice_however_spelled(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Library callers get the check the command has: ./a.pt is a.pt (a string comparison let it through)."""
    monkeypatch.chdir(tmp_path)
    Path("a.pt").write_bytes(b"w")
    Path("b.pt").write_bytes(b"v")
    with pytest.raises(ValueError, match=r"^a.pt: checkpoint given twice; name each"):
        make_soup(recipe(tmp_path, tmp_path / "soup"), ["a.pt", "b.pt", "./a.pt"], quiet=True)
    assert not (tmp_path / "soup").exists()


def test_a_soup_only_validates_so_a_batch_larger_than_the_training_split_is_fine(runs, tmp_path: Path) -> None:
    """The recipe's batch size concerns training: a soup was refused with "fewer than one batch" for it."""
    folder, bests = runs
    summary = make_soup(recipe(folder, tmp_path / "soup", batch_size=64), bests, greedy=False, quiet=True)
    assert summary["checkpoints"] == [str(p) for p in bests]
    with pytest.raises(ValueError, match="fewer than one batch of 64"):  # training with it still is refused
        Trainer(recipe(folder, tmp_path / "train", batch_size=64), quiet=True).fit()
