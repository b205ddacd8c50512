"""TrainConfig: validation, the layering resumed run -> recipe -> options, recipe-relative paths, shipped recipes."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
yaml = pytest.importorskip("yaml")

from conftest import REPO  # noqa: E402

from segblur.data import open_dataset  # noqa: E402
from segblur.training.config import TrainConfig, layered_config, load_recipe, monitor_score  # noqa: E402
from segblur.training.models import create_model, list_models  # noqa: E402


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="epochs"):
        TrainConfig(data="folder:x", arch="unet", out="o", epochs=0).validate()
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(data="folder:x", arch="unet", out="o", optimizer="rmsprop").validate()


@pytest.mark.parametrize(("settings", "message"), [
    ({"epochs": "ten"}, "setting 'epochs' must be int, got 'ten'"),
    ({"data": 3}, "setting 'data' must be str or dict"),
    ({"schedule": "step"}, "schedule must be one of plateau, poly, cosine"),
    ({"warmup": 1.0}, "warmup must be a fraction"),
    ({"schedule": "cosine", "lr": 1e-3, "min_lr": 1e-3}, "below lr/10"),
    ({"min_lr": -1.0}, "min_lr must be >= 0, got -1.0"),
    ({"workers": 1000}, "workers must be in 0..64, got 1000"),
    ({"image_size": 10**9}, "image size must be in 32..8192"),
    ({"seed": 2**70}, "seed must be in 0..9223372036854775807"),
    ({"seed": -1}, "seed must be in 0.."),
    ({"schedule": "poly", "min_lr": -1e-6}, "min_lr must be >= 0"),
    ({"schedule": "poly", "lr": 1e-3, "min_lr": 1e-3}, "poly schedule decays lr to min_lr, which must be below lr"),
    ({"monitor": "iou_"}, "monitor must be one of"),
    ({"mean": [1, 2]}, "mean must be 3 numbers"),
    ({"std": [1, 0, 1]}, "std must be 3 numbers"),
    ({"arch": "nope"}, "unknown architecture 'nope'; choose from"),
])
def test_bad_settings_are_one_line(settings: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as err:
        TrainConfig(**{"data": "folder:x", "arch": "unet", "out": "o", **settings}).validate()
    assert "\n" not in str(err.value)


def test_good_settings() -> None:
    TrainConfig(data={"root": "d", "train": []}, arch="fastseg", out="o", schedule="cosine", warmup=0.0,
                min_lr=1e-6, monitor="iou_person", mean=[127.5] * 3, std=[127.5, 127.5, 127.5]).validate()


def test_monitor_score() -> None:
    metrics = {"mean_iou": 0.5, "per_class_iou": {"background": 0.9, "person": 0.7, "cat": None}}
    assert monitor_score(metrics, "mean_iou") == 0.5
    assert monitor_score(metrics, "iou_person") == 0.7
    assert monitor_score(metrics, "iou_cat") != monitor_score(metrics, "iou_cat")  # NaN: no score
    assert monitor_score(metrics, "pixel_accuracy") != monitor_score(metrics, "pixel_accuracy")


def test_recipe_paths_are_relative_to_the_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    recipes = tmp_path / "repo" / "recipes"
    recipes.mkdir(parents=True)
    (recipes / "a.yaml").write_text("data: folder:../data/discs\narch: unet\nbackgrounds: ../bgs\n")
    (recipes / "b.yaml").write_text("data: {root: ../data, val: [{set: s, split: x, masks: ../labels/s}]}\n"
                                    "arch: unet\nbackgrounds: /abs/bgs\n")
    monkeypatch.chdir(tmp_path)  # wherever the command runs, the paths are the recipe's
    a = load_recipe(Path("repo/recipes/a.yaml"))
    assert a == {"data": "folder:repo/data/discs", "arch": "unet", "backgrounds": "repo/bgs"}
    b = load_recipe(recipes / "b.yaml")
    assert b["data"]["root"] == str(tmp_path / "repo" / "data") and b["backgrounds"] == "/abs/bgs"
    assert b["data"]["val"][0]["masks"] == str(tmp_path / "repo" / "labels" / "s")


def test_layers_recipe_then_options(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: folder:d\narch: unet\narch_kwargs: {width: 4}\nepochs: 3\nlr: 0.01\n")
    cfg, changed = layered_config({"epochs": 5, "out": "o", "lr": None, "arch_kwargs": {"depth": 2}}, recipe=recipe)
    assert (cfg.epochs, cfg.lr, cfg.out) == (5, 0.01, "o") and changed == []
    assert cfg.arch_kwargs == {"width": 4, "depth": 2} and cfg.data == f"folder:{tmp_path / 'd'}"
    # --augment KEY=VALUE adds to the recipe's augment: mapping (a key given twice: the option wins).
    (tmp_path / "aug.yaml").write_text("data: folder:d\narch: unet\naugment: {p_background: 0.3, flip: false}\n")
    cfg, _ = layered_config({"out": "o", "augment": {"p_background": 0.4, "paste_scale": [0.15, 1.0]}},
                            recipe=tmp_path / "aug.yaml")
    assert cfg.augment == {"p_background": 0.4, "flip": False, "paste_scale": [0.15, 1.0]}
    assert layered_config({"out": "o", "augment": {}}, recipe=tmp_path / "aug.yaml")[0].augment == \
        {"p_background": 0.3, "flip": False}
    with pytest.raises(ValueError, match="--out is required"):
        layered_config({}, recipe=recipe)
    (tmp_path / "bad.yaml").write_text("data: x\nlearning_rate: 3\n")
    with pytest.raises(ValueError, match=r"bad\.yaml: unknown settings \['learning_rate'\]"):
        layered_config({"out": "o"}, recipe=tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ValueError, match=r"list\.yaml: expected a mapping"):
        layered_config({"out": "o"}, recipe=tmp_path / "list.yaml")


def test_a_resume_notes_a_setting_the_checkpoint_predates(tmp_path: Path) -> None:
    # A run saved before `augment` and `resize` existed ran with their defaults: a recipe that sets them now
    # changes the run, and the resume says so; leaving them out changes nothing.
    from segblur.training.checkpoint import save

    run = tmp_path / "old"
    run.mkdir()
    save({"config": {"data": "folder:d", "arch": "unet", "out": str(run), "epochs": 3}}, run / "last.pt")
    _, changed = layered_config({"out": str(run)}, resume=run)
    assert changed == []
    recipe = tmp_path / "r.yaml"
    recipe.write_text("augment: {rotate: 4}\nresize: keep\n")
    _, changed = layered_config({"out": str(run)}, recipe=recipe, resume=run)
    assert sorted(changed) == ["augment {} -> {'rotate': 4}", "resize 'stretch' -> 'keep'"]


RECIPES = sorted((REPO / "recipes").glob("*.yaml"))


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.stem)
def test_shipped_recipes_are_valid_configs(recipe: Path) -> None:
    cfg, _ = layered_config({"out": "runs/x"}, recipe=recipe)
    assert cfg.arch in list_models()
    with torch.device("meta"):  # the options are accepted by the builder; no memory for the weights
        create_model(cfg.arch, 21, **cfg.arch_kwargs)


def test_person_recipe_is_the_person_fast_recipe() -> None:
    assert "person" in [p.stem for p in RECIPES]
    cfg, _ = layered_config({"out": "runs/x"}, recipe=REPO / "recipes" / "person.yaml")
    assert (cfg.arch, cfg.image_size, cfg.optimizer, cfg.schedule) == ("fastseg", 192, "adam", "cosine")
    assert (cfg.lr, cfg.batch_size, cfg.epochs, cfg.monitor) == (3e-3, 16, 64, "iou_person")
    assert cfg.min_lr == pytest.approx(3e-6) and cfg.warmup == 0.05
    # Paths from the recipe's folder: ../shared/data beside the repository, wherever the command runs.
    assert Path(cfg.data.split(":", 1)[1]).resolve() == (REPO.parent / "shared" / "data").resolve()
    assert Path(cfg.backgrounds).resolve() == (REPO.parent / "shared" / "data" / "backgrounds").resolve()
    root = Path(cfg.data.split(":", 1)[1])
    if not (root / "flickr-portraits-shen2016").is_dir():
        pytest.skip(f"{root} not present")
    ds = open_dataset(cfg.data)
    assert ds.weights("train") == {"flickr-portraits-shen2016/train": 1.0, "human-segmentation-vikram/train": 2.0}
    assert [s.source for s in ds.samples("val")][0] == "flickr-portraits-shen2016/unlisted"


def test_a_recipe_with_bad_yaml_names_the_line_and_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("arch: unet\nepochs: 3\n  lr: 0.1\n")  # an indented key under a scalar
    with pytest.raises(ValueError) as ei:
        load_recipe(bad)
    msg = str(ei.value)
    assert msg.startswith(f"{bad}: cannot read the config (line 3, column ") and "mapping values" in msg, msg
    assert "\n" not in msg and "^" not in msg


def test_an_arch_option_left_out_on_resume_is_its_default(tmp_path: Path) -> None:
    from segblur.training.config import check_resumable

    saved = {"arch": "unet", "arch_kwargs": {}, "image_size": 32}
    check_resumable(saved, TrainConfig(data="folder:x", arch="unet", out="o", image_size=32,
                                       arch_kwargs={"width": 64}), tmp_path / "last.pt")
    with pytest.raises(ValueError, match="last.pt: cannot resume, the checkpoint's arch option width is 64, this "
                       "run's is 32"):
        check_resumable(saved, TrainConfig(data="folder:x", arch="unet", out="o", image_size=32,
                                           arch_kwargs={"width": 32}), tmp_path / "last.pt")
