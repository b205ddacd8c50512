"""Training side (torch): model registry, checkpoints, ONNX export, person data splits and augmentation."""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from conftest import segblur_metadata, split_image  # noqa: E402

from segblur import Segmenter  # noqa: E402
from segblur.eval.evaluation import SHEN_DUPLICATES, shen_splits, vikram_splits  # noqa: E402
from segblur.runtime.model import ModelError  # noqa: E402
from segblur.training.checkpoint import load, save  # noqa: E402
from segblur.training.data.person import AugmentConfig, PersonAugment, load_pair  # noqa: E402
from segblur.training.export import export_onnx, model_from_checkpoint  # noqa: E402
from segblur.training.export import main as export_main  # noqa: E402
from segblur.training.models import create_model, list_models, register_model  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (the shared fixture is in conftest)."""


# torch.onnx's legacy (TorchScript) exporter, which export_onnx uses, warns about its own deprecation.
quiet_export = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- model registry --------------------------------------------------------------------------------------

def test_registry_lists_fastseg() -> None:
    names = list_models()
    assert "fastseg" in names
    assert names == sorted(names)


# Forward/backward/round-trip/ONNX checks of every registered model are in test_architectures.py.


def test_create_model_unknown_name_raises() -> None:
    with pytest.raises(ValueError, match="nosuchnet"):
        create_model("nosuchnet", num_classes=2)


def test_register_model_twice_raises() -> None:
    with pytest.raises(ValueError, match="fastseg"):
        register_model("fastseg")(lambda **kw: torch.nn.Identity())
    assert "fastseg" in list_models()


def test_fastseg_width_scales_the_network() -> None:
    def params(net: torch.nn.Module) -> int:
        return sum(p.numel() for p in net.parameters())

    small, full = create_model("fastseg", 2, width=0.25), create_model("fastseg", 2)
    assert params(small) < params(full) / 2
    assert 0.2e6 < params(full) < 1.0e6  # "about 0.4 M parameters at the default width"


# --- checkpoints -----------------------------------------------------------------------------------------

def test_save_writes_and_leaves_no_temp_file(tmp_path: Path) -> None:
    path = tmp_path / "ck" / "last.pt"
    save({"epoch": 3, "w": torch.arange(4)}, path)
    save({"epoch": 4, "w": torch.arange(5)}, path)  # overwrite
    ck = load(path)
    assert ck["epoch"] == 4 and torch.equal(ck["w"], torch.arange(5))
    assert files_in(path.parent) == ["last.pt"]


def test_save_failure_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "last.pt"
    save({"epoch": 1}, path)
    with pytest.raises(Exception):  # noqa: B017  (pickling a lambda fails; which error is torch's business)
        save({"epoch": 2, "bad": lambda: None}, path)
    assert load(path)["epoch"] == 1
    assert files_in(tmp_path) == ["last.pt"]


def test_model_from_checkpoint_rebuilds_the_network(tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = create_model("fastseg", 2, width=0.25).eval()
    cfg = {"arch": "fastseg", "classes": ["background", "person"], "width": 0.25}
    save({"model": net.state_dict(), "config": cfg, "epoch": 0, "best": 0.5}, tmp_path / "best.pt")
    rebuilt, ck = model_from_checkpoint(tmp_path / "best.pt")
    assert not rebuilt.training and ck["config"] == cfg
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


# --- export ----------------------------------------------------------------------------------------------

def _tiny_net(num_classes: int = 2) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model("fastseg", num_classes, width=0.25).eval()


@quiet_export
def test_export_onnx_meets_the_runtime_contract(tmp_path: Path) -> None:
    net = _tiny_net()
    meta = segblur_metadata(["background", "person"], ["person"], (64, 64))
    path = export_onnx(net, tmp_path / "tiny.onnx", meta)
    assert path == tmp_path / "tiny.onnx"
    assert files_in(tmp_path) == ["tiny.onnx"]  # no check file or temp file left behind
    seg = Segmenter(path)
    assert seg.info.classes == ("background", "person") and seg.info.input_size == (64, 64)
    assert seg.info.output_kind == "probabilities" and seg.info.extra["metrics"] == {"note": "test"}
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    x = (torch.from_numpy(img).permute(2, 0, 1).float()[None] - 127.5) / 127.5
    with torch.no_grad():
        ref = torch.softmax(net(x), 1)[0].numpy()
    np.testing.assert_allclose(seg.probabilities_lowres(img), ref, atol=1e-4)
    np.testing.assert_allclose(seg.predict(img), ref[1], atol=1e-4)  # same size: no resampling
    big = seg.predict(split_image(100, 150))
    assert big.shape == (100, 150) and big.dtype == np.float32


@quiet_export
def test_export_onnx_zeroes_subnormal_weights(tmp_path: Path) -> None:
    """Subnormal floats are very slow to multiply on Intel CPUs; export writes them as zeros."""
    import onnx
    from onnx import numpy_helper

    net = _tiny_net()
    with torch.no_grad():
        net.head.weight[0, :4] = 1e-40
    assert (net.head.weight != 0).all()
    meta = segblur_metadata(["background", "person"], ["person"], (64, 64))
    proto = onnx.load(str(export_onnx(net, tmp_path / "tiny.onnx", meta)))
    weights = [numpy_helper.to_array(t) for t in proto.graph.initializer if t.data_type == onnx.TensorProto.FLOAT]
    assert not any(((w != 0) & (np.abs(w) < np.finfo(np.float32).tiny)).any() for w in weights)
    assert sum(int((w == 0).sum()) for w in weights) >= 4


@quiet_export
def test_export_onnx_refuses_bad_metadata_before_writing(tmp_path: Path) -> None:
    meta = segblur_metadata(["background", "person"], ["cat"], (64, 64))
    with pytest.raises(ModelError):
        export_onnx(_tiny_net(), tmp_path / "bad.onnx", meta)
    assert files_in(tmp_path) == []


@quiet_export
def test_export_onnx_refuses_a_class_count_mismatch(tmp_path: Path) -> None:
    meta = segblur_metadata(["background", "person"], ["person"], (64, 64))
    with pytest.raises((ModelError, ValueError, RuntimeError)):
        export_onnx(_tiny_net(num_classes=3), tmp_path / "bad.onnx", meta)
    assert not (tmp_path / "bad.onnx").exists()


@quiet_export
def test_export_command_from_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    net = _tiny_net()
    cfg = {"arch": "fastseg", "classes": ["background", "person"], "width": 0.25, "image_size": 48,
           "mean": [127.5] * 3, "std": [127.5] * 3}
    val = {"mean_iou": 0.81234, "per_class_iou": {"background": 0.9, "person": 0.72468}}
    save({"model": net.state_dict(), "config": cfg, "epoch": 4, "best": 0.75, "val": val},
                tmp_path / "best.pt")
    out = tmp_path / "exported.onnx"
    assert export_main([str(tmp_path / "best.pt"), "-o", str(out), "--data", "synthetic"]) == 0
    assert str(out) in capsys.readouterr().out
    info = Segmenter(out).info
    assert info.name == "exported" and info.architecture == "fastseg" and info.input_size == (48, 48)
    assert info.foreground == ("person",)
    # The checkpoint's own validation scores are recorded (not the run's best, which may be another epoch).
    assert info.extra["training"] == {"epochs": 5, "image_size": 48, "val_mean_iou": 0.8123,
                                      "val_per_class_iou": {"background": 0.9, "person": 0.7247}}
    assert info.extra["data"] == "synthetic"


# --- person data: splits ---------------------------------------------------------------------------------

def _write_ids(path: Path, ids: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(ids) + "\n\n")


def test_shen_duplicates_are_pairs_of_ids() -> None:
    assert SHEN_DUPLICATES and all(len(p) == 2 and p[0] != p[1] for p in SHEN_DUPLICATES)
    flat = [i for p in SHEN_DUPLICATES for i in p]
    assert len(flat) == len(set(flat))


def test_shen_splits_remove_duplicate_leakage(tmp_path: Path) -> None:
    (a1, a2), (b1, b2), (c1, c2) = SHEN_DUPLICATES[:3]
    # test holds both halves of pair a, and b1; train holds b2 (leak), c1, and a1 (same id as test);
    # unlisted holds c2 (duplicate of a train image), a2 (test), a plain id and a train id.
    _write_ids(tmp_path / "splits" / "test.txt", [a1, a2, b1, "90001"])
    _write_ids(tmp_path / "splits" / "train.txt", [b2, c1, "90002", a1])
    _write_ids(tmp_path / "splits" / "unlisted.txt", [c2, a2, "90003", "90002"])
    s = shen_splits(tmp_path)
    assert s["test"] == [a1, b1, "90001"]  # the authors' test list, one of each duplicate pair
    assert s["train"] == [c1, "90002"]  # minus anything that is (a duplicate of) a test image
    assert s["val"] == ["90003"]  # unlisted minus anything in, or duplicating, train or test
    partner = {x: y for p in SHEN_DUPLICATES for x, y in (p, p[::-1])}
    seen: dict[str, str] = {}
    for split, ids in s.items():
        for i in ids:
            for key in (i, partner.get(i)):
                if key is not None:
                    assert seen.setdefault(key, split) == split, f"{i} leaks between {seen[key]} and {split}"


def test_shen_splits_without_duplicates_are_unchanged(tmp_path: Path) -> None:
    _write_ids(tmp_path / "splits" / "test.txt", ["1", "2"])
    _write_ids(tmp_path / "splits" / "train.txt", ["3", "4"])
    _write_ids(tmp_path / "splits" / "unlisted.txt", ["5"])
    assert shen_splits(tmp_path) == {"train": ["3", "4"], "val": ["5"], "test": ["1", "2"]}


def test_vikram_splits_hold_out_every_seventh_and_drop_the_duplicate(tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    ids = [f"{i:04d}" for i in range(1, 16)] + ["0270"]
    for i in ids:
        (masks / f"{i}.png").write_bytes(b"")
    s = vikram_splits(tmp_path)
    assert s["test"] == ["0001", "0008", "0015"]
    assert "0270" not in s["train"] + s["test"]
    assert sorted(s["train"] + s["test"]) == sorted(i for i in ids if i != "0270")
    assert not set(s["train"]) & set(s["test"])


# --- person data: loading and augmentation ---------------------------------------------------------------

def _pair(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 4:, w // 3: 2 * w // 3] = 1  # a standing "person", cut off at the bottom
    return img, mask


def test_load_pair_reads_and_downscales(tmp_path: Path) -> None:
    img, mask = _pair(60, 40, 0)
    cv2.imwrite(str(tmp_path / "a.jpg"), img)
    cv2.imwrite(str(tmp_path / "a.png"), mask * 255)
    full_img, full_mask = load_pair(tmp_path / "a.jpg", tmp_path / "a.png")
    assert full_img.shape == (60, 40, 3) and full_mask.shape == (60, 40)
    assert set(np.unique(full_mask)) == {0, 1}
    np.testing.assert_array_equal(full_mask, mask)
    small_img, small_mask = load_pair(tmp_path / "a.jpg", tmp_path / "a.png", max_side=30)
    assert small_img.shape == (30, 20, 3) and small_mask.shape == (30, 20)
    assert set(np.unique(small_mask)) <= {0, 1}


def test_load_pair_rejects_mismatched_or_missing_files(tmp_path: Path) -> None:
    img, mask = _pair(20, 20, 0)
    cv2.imwrite(str(tmp_path / "a.jpg"), img)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.resize(mask * 255, (10, 10)))
    with pytest.raises(ValueError):
        load_pair(tmp_path / "a.jpg", tmp_path / "a.png")
    with pytest.raises(ValueError):
        load_pair(tmp_path / "a.jpg", tmp_path / "missing.png")


@pytest.fixture
def augment() -> PersonAugment:
    pairs = [_pair(60, 40, 0), _pair(50, 70, 1), _pair(33, 47, 2)]
    backgrounds = [np.random.default_rng(9).integers(0, 256, (40, 64, 3), dtype=np.uint8)]
    return PersonAugment(pairs, backgrounds, AugmentConfig(size=32, p_background=0.4, p_copy_paste=0.4,
                                                           p_gray=0.3, p_blur=0.3, p_noise=0.3))


def test_person_augment_shapes_and_values(augment: PersonAugment) -> None:
    img, mask = augment.pairs[0]
    for seed in range(12):  # covers paste-on-background, copy-paste and plain crops
        out_img, out_mask = augment(img, mask, random.Random(seed))
        assert out_img.shape == (32, 32, 3) and out_img.dtype == np.uint8
        assert out_mask.shape == (32, 32)
        assert set(np.unique(out_mask)) <= {0, 1}
        assert out_img.flags["C_CONTIGUOUS"] and out_mask.flags["C_CONTIGUOUS"]


def test_person_augment_is_deterministic_per_seed(augment: PersonAugment) -> None:
    img, mask = augment.pairs[1]
    a = augment(img, mask, random.Random(1234))
    b = augment(img, mask, random.Random(1234))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    outs = [augment(img, mask, random.Random(s))[0] for s in range(5)]
    assert any(not np.array_equal(outs[0], o) for o in outs[1:])  # different seeds, different samples


def test_person_augment_does_not_modify_its_inputs(augment: PersonAugment) -> None:
    img, mask = augment.pairs[0]
    img0, mask0 = img.copy(), mask.copy()
    for seed in range(6):
        augment(img, mask, random.Random(seed))
    np.testing.assert_array_equal(img, img0)
    np.testing.assert_array_equal(mask, mask0)


def test_person_augment_keeps_the_person_in_plain_crops() -> None:
    # No pasting, no flips of meaning: a full-frame person mask stays all person.
    img = np.full((40, 40, 3), 128, np.uint8)
    mask = np.ones((40, 40), np.uint8)
    aug = PersonAugment([(img, mask)], [], AugmentConfig(size=24, p_background=0, p_copy_paste=0))
    for seed in range(5):
        _, m = aug(img, mask, random.Random(seed))
        assert np.all(m == 1)
