"""Shared fixtures: tiny hand-built segblur ONNX models and small synthetic images."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

# Logit gain per normalised channel unit: the network sees (pixel - 127.5) / 127.5 in [-1, 1].
K = 4.0
# Row of the 1x1 convolution (weights on normalised R, G, B) for each known class name:
#   person = K*(r - g): pure red -> 2K, pure green -> -2K;  car = K*(b - g): pure blue -> 2K.
CLASS_WEIGHTS = {"background": (0.0, 0.0, 0.0), "person": (K, -K, 0.0), "car": (0.0, -K, K)}

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)

# The project root, and the research data beside it (../shared/data; CI has it too, tests never commit from it).
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def segblur_metadata(classes: Sequence[str], foreground: Sequence[str], size: tuple[int, int],
                     kind: str = "probabilities", output_name: str = "probabilities") -> dict[str, Any]:
    """The metadata dict of the model contract (see segblur.runtime.model)."""
    return {"format": 1, "name": "tiny", "architecture": "conv1x1",
            "classes": list(classes), "foreground": list(foreground),
            "input": {"name": "image", "size": list(size), "layout": "NCHW", "color": "RGB",
                      "mean": [127.5, 127.5, 127.5], "std": [127.5, 127.5, 127.5], "resize": "stretch"},
            "output": {"name": output_name, "kind": kind},
            "data": "synthetic", "metrics": {"note": "test"}}


def build_model(path: Path, *, classes: Sequence[str] = ("background", "person"),
                foreground: Sequence[str] | None = None, channels: int | None = None,
                weight: np.ndarray | None = None, bias: np.ndarray | None = None,
                kind: str = "probabilities", size: tuple[int, int] = (32, 32),
                graph_size: tuple[int, int] | None = None, symbolic_output: bool = False,
                metadata: bool = True, raw_metadata: str | None = None,
                edit: Callable[[dict[str, Any]], None] | None = None) -> Path:
    """Write a tiny segblur model: input "image" [N,3,H,W] -> 1x1 Conv -> (Softmax) -> [N,C,H,W].

    ``channels`` is the conv's output count (default: one per class, so a mismatch is a bad model);
    ``kind="logits"`` leaves out the Softmax; ``graph_size`` makes the graph's H, W differ from the
    metadata's ``size``; ``symbolic_output`` hides the output's shape from shape inference (a
    Shape -> Reshape round trip), so the channel count is only known when the model runs, as in
    models exported by torch; ``metadata=False`` leaves out the segblur entry, ``raw_metadata`` stores that string
    verbatim, and ``edit(meta)`` mutates the metadata dict before it is stored.
    """
    c = len(classes) if channels is None else channels
    if weight is None:
        weight = np.array([CLASS_WEIGHTS.get(n, (0.0, 0.0, 0.0)) for n in classes][:c]
                          + [(0.0, 0.0, 0.0)] * max(0, c - len(classes)), np.float32)
    weight = np.asarray(weight, np.float32).reshape(c, 3, 1, 1)
    bias = np.zeros(c, np.float32) if bias is None else np.asarray(bias, np.float32)
    h, w = graph_size or size
    out_name = "probabilities" if kind == "probabilities" else "logits"
    logits = "logits" if kind == "probabilities" else out_name
    nodes = [helper.make_node("Conv", ["image", "W", "B"], ["conv" if symbolic_output else logits])]
    if symbolic_output:
        nodes += [helper.make_node("Shape", ["conv"], ["conv_shape"]),
                  helper.make_node("Reshape", ["conv", "conv_shape"], [logits])]
    if kind == "probabilities":
        nodes.append(helper.make_node("Softmax", ["logits"], [out_name], axis=1))
    out_shape: list[Any] = ["N", "C", "H", "W"] if symbolic_output else ["N", c, h, w]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, h, w])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, out_shape)],
        initializer=[numpy_helper.from_array(weight, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="segblur-tests")
    model.ir_version = 8
    if metadata:
        meta = segblur_metadata(classes, foreground or [n for n in classes if n != "background"][:1] or classes[1:],
                                size, kind, out_name)
        if edit is not None:
            edit(meta)
        helper.set_model_props(model, {"segblur": raw_metadata if raw_metadata is not None else json.dumps(meta)})
    onnx.checker.check_model(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def make_model(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_model(**options)`` -> path of a fresh tiny model (options: see build_model)."""
    counter = itertools.count()

    def factory(name: str | None = None, **options: Any) -> Path:
        return build_model(tmp_path / "models" / (name or f"model{next(counter)}.onnx"), **options)

    return factory


@pytest.fixture(scope="session")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid 2-class (background, person) model: red -> person, green -> background."""
    return build_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture(scope="session")
def model3_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid 3-class (background, person, car) model: red -> person, blue -> car, green -> background."""
    return build_model(tmp_path_factory.mktemp("model3") / "tiny3.onnx", classes=("background", "person", "car"))


def split_image(h: int, w: int, left: tuple[int, int, int] = RED, right: tuple[int, int, int] = GREEN,
                split: int | None = None) -> np.ndarray:
    """An RGB uint8 image: columns [0, split) ``left``, the rest ``right`` (default split: the middle)."""
    img = np.empty((h, w, 3), np.uint8)
    s = w // 2 if split is None else split
    img[:, :s] = left
    img[:, s:] = right
    return img


def disc_image(h: int, w: int, radius: float, inside: tuple[int, int, int] = RED,
               outside: tuple[int, int, int] = BLUE) -> tuple[np.ndarray, np.ndarray]:
    """An RGB disc centred in the frame, and its boolean mask."""
    yy, xx = np.mgrid[:h, :w]
    mask = (yy - (h - 1) / 2) ** 2 + (xx - (w - 1) / 2) ** 2 <= radius**2
    img = np.empty((h, w, 3), np.uint8)
    img[:] = outside
    img[mask] = inside
    return img, mask


def assert_one_line_naming(message: str, name: str | Path) -> None:
    """A user-facing error: a single non-empty line that mentions ``name``."""
    text = str(message)
    assert text.strip(), "empty message"
    assert "\n" not in text.strip(), f"message spans several lines: {text!r}"
    assert str(name) in text, f"{name} not named in {text!r}"


def make_folder_dataset(root: Path, n: int = 12, size: int = 40, seed: int = 0) -> Path:
    """Discs (class 1, stored as 255) on noise; splits train (first 3/4) and val."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "splits").mkdir()
    ids = []
    for i in range(n):
        img = rng.integers(0, 90, (size, size, 3), dtype=np.uint8)
        mask = np.zeros((size, size), np.uint8)
        c = rng.integers(12, size - 12, 2)
        r = int(rng.integers(6, 11))
        cv2.circle(mask, (int(c[0]), int(c[1])), r, 255, -1)
        img[mask > 0] = (220, 60 + 5 * i, 40)
        sid = f"im{i:02d}"
        cv2.imwrite(str(root / "images" / f"{sid}.png"), img[:, :, ::-1])
        cv2.imwrite(str(root / "masks" / f"{sid}.png"), mask)
        ids.append(sid)
    cut = n * 3 // 4
    (root / "splits" / "train.txt").write_text("\n".join(ids[:cut]) + "\n")
    (root / "splits" / "val.txt").write_text("\n".join(ids[cut:]) + "\n")
    return root


def make_columns_dataset(root: Path, classes: tuple[str, ...] = ("background", "person"), person_cols: int = 12,
                         ids: tuple[str, ...] = ("a", "b", "c"), size: int = 32) -> Path:
    """A folder dataset (split ``test``) of ``size``x``size`` photos, red left half / green right half, whose masks
    mark columns [0, person_cols) as ``person`` and the rest ``background`` (ids in ``classes``' order).

    The tiny model predicts person exactly on the red columns 0..15 of a 32x32 photo; see :data:`COLUMNS_SCORES`.
    """
    for sub in ("images", "masks", "splits"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "classes.txt").write_text("\n".join(classes) + "\n")
    for i in ids:
        cv2.imwrite(str(root / "images" / f"{i}.png"), cv2.cvtColor(split_image(size, size), cv2.COLOR_RGB2BGR))
        m = np.full((size, size), classes.index("background"), np.uint8)
        m[:, :person_cols] = classes.index("person") if "person" in classes else 1
        cv2.imwrite(str(root / "masks" / f"{i}.png"), m)
    (root / "splits" / "test.txt").write_text("\n".join(ids) + "\n")
    return root


# The tiny model on make_columns_dataset: it predicts person on columns 0..15, the truth marks 0..11: person IoU
# 12/16, background IoU 16/20, pixel accuracy 28/32, mean accuracy (1 + 16/20) / 2, frequency-weighted IoU
# (12 * 0.75 + 20 * 0.8) / 32.
COLUMNS_SCORES = {"person_iou": 0.75, "background_iou": 0.8, "pixel_accuracy": 28 / 32, "mean_pixel_accuracy": 0.9,
                  "mean_iou": 0.775, "frequency_weighted_iou": (12 * 0.75 + 20 * 0.8) / 32}


def check_columns_scores(report: dict, images: int = 3) -> None:
    """``report`` (an evaluation of the tiny model on make_columns_dataset) holds :data:`COLUMNS_SCORES`."""
    assert report["images"] == images
    assert report["per_class"]["person"]["iou"] == pytest.approx(COLUMNS_SCORES["person_iou"])
    assert report["per_class"]["background"]["iou"] == pytest.approx(COLUMNS_SCORES["background_iou"])
    for key in ("pixel_accuracy", "mean_pixel_accuracy", "mean_iou", "frequency_weighted_iou"):
        assert report[key] == pytest.approx(COLUMNS_SCORES[key]), key


def save_tiny_checkpoint(path: Path, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """A training checkpoint of a width-4 background/person U-Net for 32x32 inputs at ``path``: (net, config).

    Needs torch (call ``pytest.importorskip("torch")`` first)."""
    import torch

    from segblur.training.checkpoint import save
    from segblur.training.models import create_model

    torch.manual_seed(seed)
    net = create_model("unet", 2, width=4).eval()
    cfg = {"arch": "unet", "arch_kwargs": {"width": 4}, "classes": ["background", "person"],
           "foreground": ["person"], "image_size": 32, "mean": [123.675, 116.28, 103.53],
           "std": [58.395, 57.12, 57.375], "data": "folder:synthetic"}
    save({"model": net.state_dict(), "config": cfg, "epoch": 0, "best": 0.0, "val": {}}, path)
    return net, cfg


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, str, str]:
    """``segblur ARGV`` in-process: (exit status, stdout, stderr)."""
    from segblur.cli.main import main

    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    """The one line a failing command printed (no traceback, nothing else)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def save_image(path: Path, rgb: np.ndarray) -> Path:
    """Write an RGB (or grey) uint8 image with OpenCV, creating folders; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.ndim == 3 else rgb)
    return path


def files_in(folder: Path) -> list[str]:
    """Every file (and link) under ``folder``, as sorted relative paths."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink())


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for a test module (small models run faster so, and tests stay repeatable)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def pytest_sessionstart(session: pytest.Session) -> None:
    """CI sets SEGBLUR_REQUIRE_DATA=1: a missing ../shared/data then fails the run instead of skipping tests."""
    import os

    if os.environ.get("SEGBLUR_REQUIRE_DATA") == "1" and not SHARED_DATA.is_dir():
        pytest.exit(f"SEGBLUR_REQUIRE_DATA=1 but {SHARED_DATA} is missing: the integration tests cannot run",
                    returncode=1)


class FakeInterpreter:
    """A stand-in for LiteRT's Interpreter: one 1 x H x W x 3 float32 input, outputs computed by ``outputs``
    (name -> function of the input batch), so TFLite code is tested without LiteRT or a model file."""

    def __init__(self, outputs: dict[str, Callable[[np.ndarray], np.ndarray]], size: tuple[int, int] = (16, 16),
                 dtype: Any = np.float32) -> None:
        self.fns = list(outputs.items())
        self.shape = np.array([1, size[0], size[1], 3])
        self.dtype = dtype
        self.x: np.ndarray | None = None
        self.results: dict[int, np.ndarray] = {}
        self.invocations = 0

    def allocate_tensors(self) -> None:
        pass

    def get_input_details(self) -> list[dict[str, Any]]:
        return [{"name": "input_1", "index": 0, "shape": self.shape, "dtype": self.dtype}]

    def get_output_details(self) -> list[dict[str, Any]]:
        return [{"name": n, "index": i + 1} for i, (n, _) in enumerate(self.fns)]

    def set_tensor(self, index: int, x: np.ndarray) -> None:
        assert index == 0 and x.shape == tuple(self.shape) and x.dtype == np.float32
        self.x = x

    def invoke(self) -> None:
        self.invocations += 1
        self.results = {i + 1: np.asarray(fn(self.x), np.float32) for i, (_, fn) in enumerate(self.fns)}

    def get_tensor(self, index: int) -> np.ndarray:
        return self.results[index]


def moving_square_mask(i: int, h: int = 48, w: int = 64, size: int = 16, step: int = 3) -> np.ndarray:
    """Frame ``i``'s mask of a square moving right ``step`` px a frame (bool h x w)."""
    m = np.zeros((h, w), bool)
    m[14:14 + size, 4 + step * i:4 + step * i + size] = True
    return m


def make_sequence_folder(root: Path, n: int = 8) -> Path:
    """A frame folder for sequence evaluation: images/f-000.jpg... (a red square moving right on green: the tiny
    model's person) and masks/f-000.png... (0/255)."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        m = moving_square_mask(i)
        img = np.empty(m.shape + (3,), np.uint8)
        img[:] = GREEN
        img[m] = RED
        cv2.imwrite(str(root / "images" / f"f-{i:03d}.jpg"), img[..., ::-1])
        cv2.imwrite(str(root / "masks" / f"f-{i:03d}.png"), m.astype(np.uint8) * 255)
    return root


class RunStoppedError(Exception):
    """A training run stopped after an epoch's checkpoint, as by Ctrl-C or the end of a sitting."""


def stop_after(epoch: int) -> Callable[[int, dict], None]:
    """A Trainer ``on_epoch`` hook that raises RunStoppedError once ``epoch`` (1-based) is checkpointed."""
    def on_epoch(e: int, metrics: dict) -> None:
        if e + 1 == epoch:
            raise RunStoppedError

    return on_epoch
