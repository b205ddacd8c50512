"""Distillation: the teacher sees the student's views, its KL term, and a run that it pulls toward the teacher."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from conftest import build_model, make_columns_dataset, make_folder_dataset  # noqa: E402

from segblur.training.config import TrainConfig, load_recipe  # noqa: E402
from segblur.training.distill import Distiller, kl_to_teacher, to_rgb8  # noqa: E402
from segblur.training.loop import Trainer  # noqa: E402
from segblur.training.teachers import Teacher  # noqa: E402

MEAN, STD = (120.0, 110.0, 100.0), (60.0, 55.0, 50.0)


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (the shared fixture is in conftest)."""


def normalised(rgb: np.ndarray) -> torch.Tensor:
    """N x H x W x 3 uint8 -> the N x 3 x H x W float batch the training loader gives."""
    x = (rgb.astype(np.float32) - np.float32(MEAN)) / np.float32(STD)
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def test_the_batch_goes_back_to_the_views_it_was_made_from() -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (3, 20, 24, 3), np.uint8)
    assert np.array_equal(to_rgb8(normalised(rgb), MEAN, STD), rgb)


def test_kl_is_zero_at_the_teacher_and_its_gradient_points_to_it() -> None:
    p = torch.rand(2, 8, 8)
    logit = torch.log(p / (1 - p))
    logits = torch.stack((torch.zeros_like(logit), logit), 1)
    assert kl_to_teacher(logits, p).item() == pytest.approx(0.0, abs=1e-5)
    student = torch.zeros(2, 2, 8, 8, requires_grad=True)  # 0.5 everywhere
    teacher = torch.full((2, 8, 8), 0.9)
    loss = kl_to_teacher(student, teacher)
    assert loss.item() > 0.1
    loss.backward()
    assert (student.grad[:, 1] < 0).all() and (student.grad[:, 0] > 0).all()  # descent raises the person logit


def test_targets_are_the_teachers_probability_on_each_view() -> None:
    seen = []

    def run(x: np.ndarray):
        seen.append(x.copy())
        return x[..., 0].astype(np.float32) / 255.0, {}

    rgb = np.random.default_rng(1).integers(0, 256, (2, 16, 16, 3), np.uint8)
    d = Distiller(Teacher("red", "selfie", "stretch", (16, 16), run), MEAN, STD, 0.5)
    t = d.targets(normalised(rgb))
    assert t.shape == (2, 16, 16) and t.dtype == torch.float32
    assert np.array_equal(seen[0], rgb[0])  # the teacher got the view itself
    assert np.allclose(t.numpy(), rgb[..., 0] / 255.0, atol=1e-5)
    # a teacher of another input size sees the view resized and its answer comes back at the view's size
    d = Distiller(Teacher("red", "selfie", "stretch", (32, 32), run), MEAN, STD, 0.5)
    t = d.targets(normalised(np.full((1, 16, 24, 3), 200, np.uint8)))
    assert seen[-1].shape == (32, 32, 3) and t.shape == (1, 16, 24)
    assert np.allclose(t.numpy(), 200 / 255.0, atol=1e-4)


def person_fraction(run: Path, folder: Path) -> float:
    """The share of the validation photos a trained run calls person."""
    from segblur.training.predict import CheckpointPredictor

    p = CheckpointPredictor(run / "last.pt", threads=1)
    import cv2

    probs = [p.probabilities(cv2.imread(str(f))[:, :, ::-1])[..., 1] for f in sorted((folder / "images").iterdir())]
    return float(np.mean([(q >= 0.5).mean() for q in probs]))


def test_a_run_with_a_teacher_moves_toward_it(tmp_path: Path) -> None:
    """A teacher that sees no person anywhere, weighted heavily, leaves the student calling less of the photos
    person than the same run without it."""
    folder = make_folder_dataset(tmp_path / "discs")
    nobody = build_model(tmp_path / "nobody.onnx", weight=np.zeros((2, 3), np.float32), bias=[4.0, -4.0])
    base = dict(data=f"folder:{folder}", arch="unet", epochs=3, batch_size=3, image_size=32, lr=3e-3,
                arch_kwargs={"width": 4}, tensorboard=False, seed=3, threads=1)
    Trainer(TrainConfig(out=str(tmp_path / "plain"), **base), quiet=True).fit()
    Trainer(TrainConfig(out=str(tmp_path / "taught"), teacher=f"onnx={nobody}", teacher_weight=5.0, **base),
            quiet=True).fit()
    plain, taught = person_fraction(tmp_path / "plain", folder), person_fraction(tmp_path / "taught", folder)
    assert taught < plain - 0.05, (plain, taught)


def test_a_teacher_needs_two_classes_and_a_sane_weight(tmp_path: Path) -> None:
    folder = make_columns_dataset(tmp_path / "three", classes=("background", "person", "hair"))
    tiny = build_model(tmp_path / "tiny.onnx")
    three = TrainConfig(data=f"folder:{folder}", arch="unet", out=str(tmp_path / "r"), epochs=1, batch_size=2,
                        image_size=32, arch_kwargs={"width": 4}, tensorboard=False, train_split="test",
                        val_split="test", teacher=f"onnx={tiny}", threads=1)
    with pytest.raises(ValueError, match="two classes"):
        Trainer(three, quiet=True).fit()
    bad = TrainConfig(data=f"folder:{folder}", arch="unet", out=str(tmp_path / "r"), teacher_weight=-1.0)
    with pytest.raises(ValueError, match="teacher weight"):
        bad.validate()


def test_a_recipes_teacher_file_is_taken_from_its_folder(tmp_path: Path) -> None:
    (tmp_path / "recipes").mkdir()
    recipe = tmp_path / "recipes" / "r.yaml"
    recipe.write_text("teacher: selfie=../.cache/teachers/selfie.tflite\n")
    assert load_recipe(recipe)["teacher"] == f"selfie={tmp_path / '.cache/teachers/selfie.tflite'}"
    recipe.write_text("teacher: ../m.onnx\n")
    assert load_recipe(recipe)["teacher"] == str(tmp_path / "m.onnx")
    recipe.write_text("teacher: person-lite\n")  # a built-in model's name stays a name
    assert load_recipe(recipe)["teacher"] == "person-lite"
