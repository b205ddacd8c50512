"""The model registry: names, unknown and duplicate names, options."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from segblur.training.models import create_model, list_models, register_model  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs torch on one thread (the shared fixture is in conftest)."""


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


@pytest.mark.parametrize(("arch", "options", "words"), [
    ("unet", {"width": "abc"}, "architecture unet: option width must be a whole number (default 64), got 'abc'"),
    ("unet", {"width": 2.5}, "option width must be a whole number"),
    ("efficientnet_lite_seg", {"freeze_bn": "yes"}, "option freeze_bn must be true or false"),
    ("efficientnet_lite_seg", {"variant": 0}, "option variant must be a string"),
    ("deconvnet", {"width": "wide"}, "architecture deconvnet: option width must be a number"),
    ("deeplabv3_resnet50", {"bogus": 1}, "architecture deeplabv3_resnet50 has no option 'bogus' (its options: "
                                         "output_stride, aux, width, atrous_rates)"),
    ("unet", {"bogus": 1}, "architecture unet has no option 'bogus' (its options: width and its network class's)"),
    ("deeplabv3_resnet50", {"output_stride": 4}, "architecture deeplabv3_resnet50 with options {'output_stride': 4}: "
                                                 "deeplabv3_resnet50 output_stride must be 8 or 16"),
])
def test_a_bad_option_is_one_line_naming_the_architecture_and_the_option(arch: str, options: dict,
                                                                         words: str) -> None:
    with pytest.raises(ValueError) as ei:
        create_model(arch, num_classes=2, **options)
    assert words in str(ei.value) and "\n" not in str(ei.value), str(ei.value)


def test_options_of_the_right_type_build() -> None:
    assert create_model("fastseg", 2, width=1).__class__.__name__ == "FastSeg"  # an int will do for a float
