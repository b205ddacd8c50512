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
