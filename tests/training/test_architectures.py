"""Every registered architecture (timm / smp style), DeconvNet and DeepLabv3 specifics, and pretrained loading.

Models are built at reduced widths and run on small inputs with one thread; full-width networks are only built
on the ``meta`` device (shapes without memory or arithmetic).
"""

from __future__ import annotations

import copy
import io
import random
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from conftest import assert_one_line_naming  # noqa: E402

from segblur.training.models import create_model, list_models  # noqa: E402
from segblur.training.models.deconvnet import unpool  # noqa: E402
from segblur.training.models.pretrained import load_pretrained  # noqa: E402

# Small but complete versions of each architecture; a model registered later runs with its defaults.
SMALL: dict[str, dict] = {
    "fastseg": {"width": 0.5},
    "unet": {"width": 8},
    "deconvnet": {"width": 1 / 16},
    "deeplabv3_resnet50": {"width": 0.25},
    "deeplabv3_mobilenet_v3_large": {"width": 0.5},
    "efficientnet_lite_seg": {"decoder_width": 16},
}
MODELS = list_models()
quiet_export = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (the shared fixture is in conftest)."""


def build(name: str, num_classes: int = 3, seed: int = 0, **kwargs) -> nn.Module:
    """A small version of ``name`` with reproducible initial weights."""
    torch.manual_seed(seed)
    return create_model(name, num_classes, **{**SMALL.get(name, {}), **kwargs})


def calibrated(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Eval-mode model whose batch-norm statistics come from ``x``, so its outputs are of order one."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in bns]
    for m in bns:
        m.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        model(x)
    for m, momentum in zip(bns, saved):
        m.momentum = momentum
    return model.eval()


def test_registry_has_every_architecture() -> None:
    assert {"fastseg", "unet", "deconvnet", "deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large",
            "efficientnet_lite_seg"} <= set(MODELS)


# ---------------------------------------------------------------- every architecture


@pytest.mark.parametrize("name", MODELS)
def test_forward_logits_at_input_size(name: str) -> None:
    model = build(name, num_classes=3).eval()
    with torch.no_grad():
        for h, w in ((64, 64), (64, 96), (72, 100)):  # square, non-square, not multiples of 32
            y = model(torch.randn(2, 3, h, w))
            assert y.shape == (2, 3, h, w), (h, w)
            assert y.dtype == torch.float32 and torch.isfinite(y).all()


@pytest.mark.parametrize("name", MODELS)
def test_backward_gives_finite_gradients_to_every_parameter(name: str) -> None:
    model = build(name, num_classes=3).train()
    x = torch.randn(2, 3, 64, 64)
    target = torch.randint(0, 3, (2, 64, 64))
    target[:, :8] = 255
    loss = F.cross_entropy(model(x), target, ignore_index=255)
    loss.backward()
    assert torch.isfinite(loss)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert params
    for n, p in params:
        assert p.grad is not None, f"{n} gets no gradient"
        assert torch.isfinite(p.grad).all(), f"{n} has a non-finite gradient"
    assert any(p.grad.abs().sum() > 0 for _, p in params)


@pytest.mark.parametrize("name", MODELS)
def test_train_and_eval_modes(name: str) -> None:
    model = build(name)
    x = torch.randn(2, 3, 64, 64)
    model.eval()
    assert not any(m.training for m in model.modules())
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        a, b = model(x), model(x)
    assert torch.equal(a, b), "eval mode is not deterministic"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "eval forward changed the state"
    model.train()
    assert all(m.training for m in model.modules())
    with torch.no_grad():
        model(x)
    changed = [k for k, v in model.state_dict().items() if not torch.equal(before[k], v)]
    assert any("running_mean" in k for k in changed), "train forward did not update batch-norm statistics"


@pytest.mark.parametrize("name", MODELS)
def test_state_dict_round_trip(name: str, tmp_path: Path) -> None:
    x = torch.randn(1, 3, 64, 96)
    src = calibrated(build(name, seed=1), torch.randn(2, 3, 64, 96))
    torch.save(src.state_dict(), tmp_path / "w.pt")
    dst = build(name, seed=2)
    dst.load_state_dict(torch.load(tmp_path / "w.pt", weights_only=True))
    dst.eval()
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))


@quiet_export
@pytest.mark.parametrize("name", MODELS)
def test_onnx_export_matches_torch(name: str) -> None:
    model = calibrated(build(name), torch.randn(4, 3, 64, 96))
    x = torch.randn(2, 3, 64, 96)
    buf = io.BytesIO()
    torch.onnx.export(model, (torch.randn(1, 3, 64, 96),), buf, dynamo=False, opset_version=17,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
        exact = copy.deepcopy(model).double()(x.double()).numpy()
    scale = float(np.abs(exact).max())
    assert ref.std() > 1e-3, "outputs too small for the comparison to mean anything"
    # A deep float32 network with random weights drifts from the exact (float64) result by up to a few 1e-4 of its
    # scale in torch and in ORT alike (summation order; measured for ResNet-50 and DeconvNet). So: ORT must be as
    # close to the float64 result as torch is (the export is faithful), and close to torch in absolute terms.
    torch_err, ort_err = np.abs(ref - exact).max(), np.abs(got - exact).max()
    assert ort_err <= 2 * torch_err + 1e-5, (ort_err, torch_err)
    np.testing.assert_allclose(got, ref, atol=1e-3 * max(1.0, scale), rtol=1e-3)


# ---------------------------------------------------------------- DeconvNet


def test_unpool_puts_values_back_where_the_maxima_were() -> None:
    x = torch.tensor([[1.0, 2.0, 0.0, 5.0, 9.0],
                      [4.0, 3.0, 6.0, 1.0, 9.0],
                      [0.0, 0.0, 1.0, 0.0, 9.0],
                      [7.0, 0.0, 0.0, 8.0, 9.0],
                      [9.0, 9.0, 9.0, 9.0, 9.0]]).view(1, 1, 5, 5)
    pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    assert pooled.view(-1).tolist() == [4.0, 6.0, 7.0, 8.0]
    out = unpool(pooled * 10, idx, x.shape[-2:])
    expected = torch.zeros(5, 5)
    expected[1, 0], expected[1, 2], expected[3, 0], expected[3, 3] = 40.0, 60.0, 70.0, 80.0
    assert torch.equal(out.view(5, 5), expected)  # the odd last row and column stay empty


def test_unpool_matches_torch_max_unpool_per_channel() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 6)
    pooled, idx = F.max_pool2d(x, 2, 2, return_indices=True)
    assert torch.equal(unpool(pooled, idx, x.shape[-2:]), F.max_unpool2d(pooled, idx, 2, 2, output_size=x.shape[-2:]))


def test_deconvnet_has_vgg16_bn_layout_and_mirrored_decoder() -> None:
    with torch.device("meta"):
        model = create_model("deconvnet", 21)
    feats = list(model.features)
    convs = [i for i, m in enumerate(feats) if isinstance(m, nn.Conv2d)]
    pools = [i for i, m in enumerate(feats) if isinstance(m, nn.MaxPool2d)]
    assert convs == [0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40]  # torchvision vgg16_bn().features indices
    assert pools == [6, 13, 23, 33, 43]
    assert all(isinstance(feats[i + 1], nn.BatchNorm2d) and isinstance(feats[i + 2], nn.ReLU) for i in convs)
    per_block = np.diff([-1, *pools]) // 3
    assert per_block.tolist() == [2, 2, 3, 3, 3]
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["features.0.weight"] == (64, 3, 3, 3)
    assert shapes["features.40.weight"] == (512, 512, 3, 3)
    assert shapes["features.41.running_var"] == (512,)
    assert shapes["fc6.0.weight"] == (4096, 512, 7, 7)
    assert shapes["fc7.0.weight"] == (4096, 4096, 1, 1)
    assert shapes["deconv6.0.weight"] == (4096, 512, 7, 7)
    assert shapes["score.weight"] == (21, 64, 1, 1)
    decoder = [model.deconv5, model.deconv4, model.deconv3, model.deconv2, model.deconv1]
    assert [len(b) for b in decoder] == [3, 3, 3, 2, 2]
    assert all(isinstance(layer[0], nn.ConvTranspose2d) and isinstance(layer[1], nn.BatchNorm2d)
               for b in decoder for layer in b)
    assert [b[-1][0].out_channels for b in decoder] == [512, 256, 128, 64, 64]
    assert 245e6 < sum(p.numel() for p in model.parameters()) < 255e6  # the paper's 252 M


def test_deconvnet_width_scales_every_layer() -> None:
    small = create_model("deconvnet", 2, width=0.25)
    shapes = {k: tuple(v.shape) for k, v in small.state_dict().items()}
    assert shapes["features.0.weight"] == (16, 3, 3, 3)
    assert shapes["fc6.0.weight"] == (1024, 128, 7, 7)
    assert shapes["score.weight"] == (2, 16, 1, 1)


# ---------------------------------------------------------------- DeepLabv3

# Real keys of torchvision's deeplabv3_resnet50(num_classes=21, aux_loss=True) with their shapes.
TORCHVISION_RESNET50 = {
    "backbone.conv1.weight": (64, 3, 7, 7),
    "backbone.bn1.running_mean": (64,),
    "backbone.bn1.num_batches_tracked": (),
    "backbone.layer1.0.conv1.weight": (64, 64, 1, 1),
    "backbone.layer1.0.conv2.weight": (64, 64, 3, 3),
    "backbone.layer1.0.conv3.weight": (256, 64, 1, 1),
    "backbone.layer1.0.downsample.0.weight": (256, 64, 1, 1),
    "backbone.layer1.0.downsample.1.weight": (256,),
    "backbone.layer2.0.conv1.weight": (128, 256, 1, 1),
    "backbone.layer2.0.downsample.0.weight": (512, 256, 1, 1),
    "backbone.layer2.3.bn3.bias": (512,),
    "backbone.layer3.5.conv3.weight": (1024, 256, 1, 1),
    "backbone.layer4.0.conv2.weight": (512, 512, 3, 3),
    "backbone.layer4.0.downsample.0.weight": (2048, 1024, 1, 1),
    "backbone.layer4.2.bn3.running_var": (2048,),
    "classifier.0.convs.0.0.weight": (256, 2048, 1, 1),
    "classifier.0.convs.1.0.weight": (256, 2048, 3, 3),
    "classifier.0.convs.3.1.bias": (256,),
    "classifier.0.convs.4.1.weight": (256, 2048, 1, 1),
    "classifier.0.project.0.weight": (256, 1280, 1, 1),
    "classifier.0.project.1.weight": (256,),
    "classifier.1.weight": (256, 256, 3, 3),
    "classifier.2.running_mean": (256,),
    "classifier.4.weight": (21, 256, 1, 1),
    "classifier.4.bias": (21,),
    "aux_classifier.0.weight": (256, 1024, 3, 3),
    "aux_classifier.1.weight": (256,),
    "aux_classifier.4.weight": (21, 256, 1, 1),
}
# Real keys of torchvision's deeplabv3_mobilenet_v3_large(num_classes=21, aux_loss=True) with their shapes.
TORCHVISION_MOBILENET = {
    "backbone.0.0.weight": (16, 3, 3, 3),
    "backbone.0.1.weight": (16,),
    "backbone.1.block.0.0.weight": (16, 1, 3, 3),
    "backbone.1.block.1.0.weight": (16, 16, 1, 1),
    "backbone.2.block.0.0.weight": (64, 16, 1, 1),
    "backbone.2.block.1.0.weight": (64, 1, 3, 3),
    "backbone.2.block.2.0.weight": (24, 64, 1, 1),
    "backbone.4.block.1.0.weight": (72, 1, 5, 5),
    "backbone.4.block.2.fc1.weight": (24, 72, 1, 1),
    "backbone.4.block.2.fc2.bias": (72,),
    "backbone.4.block.3.0.weight": (40, 72, 1, 1),
    "backbone.7.block.0.1.running_var": (240,),
    "backbone.13.block.1.0.weight": (672, 1, 5, 5),
    "backbone.15.block.2.fc1.weight": (240, 960, 1, 1),
    "backbone.15.block.3.0.weight": (160, 960, 1, 1),
    "backbone.16.0.weight": (960, 160, 1, 1),
    "backbone.16.1.num_batches_tracked": (),
    "classifier.0.convs.0.0.weight": (256, 960, 1, 1),
    "classifier.0.convs.2.0.weight": (256, 960, 3, 3),
    "classifier.0.convs.4.1.weight": (256, 960, 1, 1),
    "classifier.0.project.0.weight": (256, 1280, 1, 1),
    "classifier.4.weight": (21, 256, 1, 1),
    "aux_classifier.0.weight": (10, 40, 3, 3),
    "aux_classifier.4.bias": (21,),
}
# Parameter counts published with torchvision's COCO-with-VOC-labels weights (they include the aux head).
TORCHVISION_PARAMS = {"deeplabv3_resnet50": 42_004_074, "deeplabv3_mobilenet_v3_large": 11_029_328}


@pytest.mark.parametrize(("name", "keys"), [("deeplabv3_resnet50", TORCHVISION_RESNET50),
                                            ("deeplabv3_mobilenet_v3_large", TORCHVISION_MOBILENET)])
def test_deeplabv3_names_and_shapes_match_torchvision(name: str, keys: dict[str, tuple[int, ...]]) -> None:
    with torch.device("meta"):
        model = create_model(name, 21, aux=True)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    for key, shape in keys.items():
        assert key in shapes, f"{key} missing"
        assert shapes[key] == shape, key
    assert sum(p.numel() for p in model.parameters()) == TORCHVISION_PARAMS[name]
    assert not any(k.startswith(("backbone.fc.", "backbone.avgpool", "backbone.17")) for k in shapes)
    with torch.device("meta"):
        plain = create_model(name, 21)
    assert not any(k.startswith("aux_classifier.") for k in plain.state_dict())  # aux is off by default


def test_deeplabv3_resnet50_full_width_forward() -> None:
    torch.manual_seed(0)
    model = create_model("deeplabv3_resnet50", 2).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 64, 64)).shape == (1, 2, 64, 64)


@pytest.mark.parametrize("name", ["deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large"])
@pytest.mark.parametrize("stride", [8, 16])
def test_deeplabv3_output_stride(name: str, stride: int) -> None:
    model = build(name, output_stride=stride).eval()
    with torch.no_grad():
        feats = model.backbone(torch.randn(1, 3, 64, 96))
        assert feats["out"].shape[-2:] == (64 // stride, 96 // stride)
        assert model(torch.randn(1, 3, 64, 96)).shape == (1, 3, 64, 96)


def test_deeplabv3_dilations_follow_torchvision() -> None:
    resnet = build("deeplabv3_resnet50")  # output stride 8
    assert resnet.backbone.layer3[0].conv2.dilation == (1, 1) and resnet.backbone.layer3[1].conv2.dilation == (2, 2)
    assert resnet.backbone.layer4[0].conv2.dilation == (2, 2) and resnet.backbone.layer4[2].conv2.dilation == (4, 4)
    mobile = build("deeplabv3_mobilenet_v3_large")  # output stride 16: the last stage is dilated
    depthwise = mobile.backbone[13].block[1][0]
    assert depthwise.stride == (1, 1) and depthwise.dilation == (2, 2)
    assert mobile.backbone[12].block[1][0].dilation == (1, 1)
    assert resnet.classifier[0].convs[1][0].dilation == mobile.classifier[0].convs[1][0].dilation == (12, 12)
    assert [resnet.classifier[0].convs[i][0].dilation[0] for i in (1, 2, 3)] == [12, 24, 36]
    assert build("deeplabv3_resnet50", output_stride=16).classifier[0].convs[1][0].dilation == (6, 6)
    with pytest.raises(ValueError, match="output_stride"):
        build("deeplabv3_resnet50", output_stride=4)


def test_deeplabv3_aux_head_only_in_training() -> None:
    model = build("deeplabv3_mobilenet_v3_large", aux=True).train()
    x = torch.randn(2, 3, 64, 64)
    y = model(x)
    assert model.aux_logits is not None and model.aux_logits.shape == y.shape
    (y.sum() + model.aux_logits.sum()).backward()
    assert model.aux_classifier[0].weight.grad is not None
    model.eval()
    with torch.no_grad():
        model(x)
    assert model.aux_logits is None


# ---------------------------------------------------------------- pretrained loading


def _randomised(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The model's state dict with every float tensor replaced by random values (distinct from any init)."""
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(v.shape, generator=g) + 0.5 if v.is_floating_point() else v.clone()
            for k, v in model.state_dict().items()}


def test_full_checkpoint_into_fewer_classes_skips_only_the_classifier(tmp_path: Path) -> None:
    name = "deeplabv3_mobilenet_v3_large"
    src = _randomised(build(name, num_classes=21, aux=True), 1)
    torch.save(src, tmp_path / "coco.pth")
    model = build(name, num_classes=3)
    init = {k: v.clone() for k, v in model.state_dict().items()}
    skipped = load_pretrained(model, str(tmp_path / "coco.pth"))
    assert skipped == ["classifier.4.weight", "classifier.4.bias"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, init[k] if k in skipped else src[k]), k


def test_backbone_only_imagenet_resnet(tmp_path: Path) -> None:
    model = build("deeplabv3_resnet50")
    full = _randomised(model, 2)
    imagenet = {k[len("backbone."):]: v for k, v in full.items()
                if k.startswith("backbone.") and not k.endswith("num_batches_tracked")}  # as in the old files
    imagenet["fc.weight"] = torch.zeros(1000, model.backbone.out_channels)
    imagenet["fc.bias"] = torch.zeros(1000)
    torch.save(imagenet, tmp_path / "resnet50.pth")
    init = {k: v.clone() for k, v in model.state_dict().items()}
    skipped = load_pretrained(model, str(tmp_path / "resnet50.pth"))
    assert skipped and all(k.startswith("classifier.") for k in skipped)
    for k, v in model.state_dict().items():
        if k.startswith("backbone.") and not k.endswith("num_batches_tracked"):
            assert torch.equal(v, full[k]), k
        elif not k.startswith("backbone."):
            assert torch.equal(v, init[k]), k


def test_backbone_only_imagenet_mobilenet_and_vgg(tmp_path: Path) -> None:
    mobile = build("deeplabv3_mobilenet_v3_large")
    full = _randomised(mobile, 3)
    imagenet = {"features." + k[len("backbone."):]: v for k, v in full.items() if k.startswith("backbone.")}
    imagenet["classifier.0.weight"] = torch.zeros(1280, mobile.backbone.out_channels)
    torch.save(imagenet, tmp_path / "mnv3.pth")
    load_pretrained(mobile, str(tmp_path / "mnv3.pth"))
    assert torch.equal(mobile.state_dict()["backbone.16.0.weight"], full["backbone.16.0.weight"])

    deconv = build("deconvnet")
    full = _randomised(deconv, 4)
    vgg = {k: v for k, v in full.items() if k.startswith("features.")}
    vgg["classifier.0.weight"] = full["fc6.0.weight"].flatten(1)  # Linear(512*7*7, 4096) as in vgg16_bn
    vgg["classifier.0.bias"] = full["fc6.0.bias"]
    vgg["classifier.3.weight"] = full["fc7.0.weight"].flatten(1)
    vgg["classifier.3.bias"] = full["fc7.0.bias"]
    vgg["classifier.6.weight"] = torch.zeros(1000, full["fc7.0.weight"].shape[0])
    torch.save(vgg, tmp_path / "vgg16_bn.pth")
    skipped = load_pretrained(deconv, str(tmp_path / "vgg16_bn.pth"))
    state = deconv.state_dict()
    assert torch.equal(state["features.40.weight"], full["features.40.weight"])
    assert torch.equal(state["fc6.0.weight"], full["fc6.0.weight"])
    assert torch.equal(state["fc7.0.bias"], full["fc7.0.bias"])
    assert "score.weight" in skipped and not any(k.startswith(("features.", "fc6.0.weight")) for k in skipped)


@pytest.mark.parametrize("wrap", ["model", "state_dict", "module"])
def test_wrapped_checkpoints(tmp_path: Path, wrap: str) -> None:
    src = _randomised(build("fastseg", num_classes=2), 5)
    if wrap == "module":
        obj = {"state_dict": {"module." + k: v for k, v in src.items()}}  # DistributedDataParallel
    else:  # as our trainer writes it, RNG states included
        obj = {wrap: src, "epoch": 3, "config": {"arch": "fastseg", "classes": ["a", "b"]},
               "numpy_rng": np.random.get_state(), "python_rng": random.getstate(), "torch_rng": torch.get_rng_state()}
    torch.save(obj, tmp_path / "ck.pt")
    model = build("fastseg", num_classes=4)
    skipped = load_pretrained(model, str(tmp_path / "ck.pt"))
    assert skipped == ["head.weight", "head.bias"]
    assert all(torch.equal(v, src[k]) for k, v in model.state_dict().items() if k not in skipped)


def test_wrong_shape_missing_key_and_bad_files_name_the_file(tmp_path: Path) -> None:
    name = "deeplabv3_resnet50"
    src = build(name).state_dict()
    bad = dict(src, **{"backbone.layer2.0.conv1.weight": torch.zeros(3, 3, 1, 1)})
    torch.save(bad, tmp_path / "bad_shape.pth")
    with pytest.raises(ValueError) as info:
        load_pretrained(build(name), str(tmp_path / "bad_shape.pth"))
    assert_one_line_naming(str(info.value), tmp_path / "bad_shape.pth")
    assert "backbone.layer2.0.conv1.weight" in str(info.value)

    torch.save({k: v for k, v in src.items() if k != "backbone.layer1.1.bn2.weight"}, tmp_path / "missing.pth")
    with pytest.raises(ValueError, match=r"backbone\.layer1\.1\.bn2\.weight") as info:
        load_pretrained(build(name), str(tmp_path / "missing.pth"))
    assert_one_line_naming(str(info.value), tmp_path / "missing.pth")
    lenient = load_pretrained(build(name), str(tmp_path / "missing.pth"), strict_backbone=False)
    assert lenient == ["backbone.layer1.1.bn2.weight"]

    torch.save(build("deeplabv3_mobilenet_v3_large").state_dict(), tmp_path / "other_arch.pth")
    with pytest.raises(ValueError) as info:
        load_pretrained(build(name), str(tmp_path / "other_arch.pth"))
    assert_one_line_naming(str(info.value), tmp_path / "other_arch.pth")

    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    for path in (tmp_path / "junk.pth", tmp_path / "absent.pth"):
        with pytest.raises(ValueError) as info:
            load_pretrained(build(name), str(path))
        assert_one_line_naming(str(info.value), path)


def test_mobilenet_deeplab_bn_momentum_option() -> None:
    """torchvision's 0.01 by default (fine-tuning); a from-scratch run can ask for a faster 0.1."""
    default = create_model("deeplabv3_mobilenet_v3_large", 3, width=0.25)
    fast = create_model("deeplabv3_mobilenet_v3_large", 3, width=0.25, bn_momentum=0.1)
    bns = [m for m in default.backbone.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(m.momentum == 0.01 for m in bns)
    assert all(m.momentum == 0.1 for m in fast.backbone.modules() if isinstance(m, nn.BatchNorm2d))
    with pytest.raises(ValueError, match="bn_momentum"):
        create_model("deeplabv3_mobilenet_v3_large", 3, width=0.25, bn_momentum=0.0)
