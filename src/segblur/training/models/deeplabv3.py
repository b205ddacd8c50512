"""DeepLabv3 (Chen et al., 2017): a dilated backbone, atrous spatial pyramid pooling, bilinear upsampling.

Registered as ``deeplabv3_resnet50`` and ``deeplabv3_mobilenet_v3_large``. Module and parameter names follow
torchvision exactly (``backbone.*``, ``classifier.0.convs.N.*``, ``classifier.0.project.*``, ``classifier.1-4``,
``aux_classifier.*``), so its published checkpoints load with ``load_state_dict`` (``aux=True``, 21 classes).

ASPP atrous rates follow torchvision, which uses (12, 24, 36) for both backbones (ResNet-50 at output stride 8,
MobileNetV3 at 16); ResNet-50 at output stride 16 uses the paper's (6, 12, 18). ``atrous_rates`` overrides them.
The network returns logits at the input size. With ``aux=True`` a training-mode forward also stores the
auxiliary FCN head's logits (input size) in ``model.aux_logits`` for an auxiliary loss; eval and export ignore it.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model
from .mobilenetv3 import mobilenet_v3_large
from .resnet import resnet50


class ASPPConv(nn.Sequential):
    """3x3 atrous convolution, batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, rate: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, padding=rate, dilation=rate, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


class ASPPPooling(nn.Sequential):
    """Image-level features: global average pool, 1x1 conv, batch norm, ReLU, broadcast back to the map size."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        return F.interpolate(super().forward(x), size=size, mode="bilinear", align_corners=False)


class ASPP(nn.Module):
    """1x1 conv, one atrous conv per rate and image pooling in parallel, concatenated and projected (dropout 0.5)."""

    def __init__(self, cin: int, rates: Sequence[int], cout: int = 256) -> None:
        super().__init__()
        branches: list[nn.Module] = [
            nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())]
        branches += [ASPPConv(cin, cout, int(r)) for r in rates]
        branches.append(ASPPPooling(cin, cout))
        self.convs = nn.ModuleList(branches)
        self.project = nn.Sequential(nn.Conv2d(len(branches) * cout, cout, 1, bias=False), nn.BatchNorm2d(cout),
                                     nn.ReLU(), nn.Dropout(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([branch(x) for branch in self.convs], dim=1))


class DeepLabHead(nn.Sequential):
    """``classifier``: ASPP, 3x3 conv, batch norm, ReLU, 1x1 classifier (indices 0..4 as in torchvision)."""

    def __init__(self, cin: int, num_classes: int, rates: Sequence[int], channels: int = 256) -> None:
        super().__init__(ASPP(cin, rates, channels), nn.Conv2d(channels, channels, 3, padding=1, bias=False),
                         nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, num_classes, 1))


class FCNHead(nn.Sequential):
    """``aux_classifier``: 3x3 conv to ``cin // 4``, batch norm, ReLU, dropout 0.1, 1x1 classifier."""

    def __init__(self, cin: int, num_classes: int) -> None:
        mid = cin // 4
        super().__init__(nn.Conv2d(cin, mid, 3, padding=1, bias=False), nn.BatchNorm2d(mid), nn.ReLU(),
                         nn.Dropout(0.1), nn.Conv2d(mid, num_classes, 1))


class DeepLabV3(nn.Module):
    """``backbone`` (returns ``{"aux", "out"}`` features) -> ``classifier`` -> logits upsampled to the input size."""

    backbone_prefix = "backbone."  # where an ImageNet classification checkpoint's keys go (see pretrained.py)
    head_prefixes = ("classifier.4.", "aux_classifier.4.")  # the per-class layers, skipped on a class mismatch

    def __init__(self, backbone: nn.Module, num_classes: int, rates: Sequence[int], aux: bool = False,
                 channels: int = 256) -> None:
        super().__init__()
        self.backbone = backbone
        self.classifier = DeepLabHead(backbone.out_channels, num_classes, rates, channels)
        self.aux_classifier = FCNHead(backbone.aux_channels, num_classes) if aux else None
        self.aux_logits: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        feats = self.backbone(x)
        if self.aux_classifier is not None and self.training:
            aux = self.aux_classifier(feats["aux"])
            self.aux_logits = F.interpolate(aux, size=size, mode="bilinear", align_corners=False)
        else:
            self.aux_logits = None
        y = self.classifier(feats["out"])
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)

    def imagenet_key(self, key: str) -> str | None:
        """This model's name for a key of a torchvision ImageNet classifier checkpoint; None for its own head."""
        if key.startswith(("fc.", "classifier.", "avgpool.")):
            return None
        if key.startswith("features."):  # mobilenet_v3_large: features.N.* -> backbone.N.*
            key = key[len("features."):]
        return self.backbone_prefix + key


def _rates(atrous_rates: Sequence[int] | None, default: Sequence[int]) -> tuple[int, ...]:
    rates = tuple(int(r) for r in (atrous_rates if atrous_rates is not None else default))
    if len(rates) != 3 or min(rates) < 1:
        raise ValueError(f"atrous_rates must be three positive integers, got {list(rates)}")
    return rates


@register_model("deeplabv3_resnet50")
def deeplabv3_resnet50(num_classes: int = 21, output_stride: int = 8, aux: bool = False, width: float = 1.0,
                       atrous_rates: Sequence[int] | None = None) -> DeepLabV3:
    """DeepLabv3 on a dilated ResNet-50 (output stride 8 as torchvision, or 16); ``width`` < 1 shrinks it for a CPU."""
    if output_stride not in (8, 16):
        raise ValueError(f"deeplabv3_resnet50 output_stride must be 8 or 16, got {output_stride}")
    rates = _rates(atrous_rates, (12, 24, 36) if output_stride == 8 else (6, 12, 18))
    backbone = resnet50(output_stride=output_stride, width=width)
    return DeepLabV3(backbone, num_classes, rates, aux=aux, channels=max(8, int(round(256 * width))))


@register_model("deeplabv3_mobilenet_v3_large")
def deeplabv3_mobilenet_v3_large(num_classes: int = 21, output_stride: int = 16, aux: bool = False,
                                 width: float = 1.0, atrous_rates: Sequence[int] | None = None,
                                 bn_momentum: float | None = None) -> DeepLabV3:
    """DeepLabv3 on a dilated MobileNetV3-Large (output stride 16 as torchvision, or 8); ``width`` is width_mult.

    The backbone keeps torchvision's batch-norm momentum 0.01 (right for fine-tuning its weights); from
    scratch, ``bn_momentum=0.1`` lets the running statistics keep up with fast-changing weights.
    """
    if output_stride not in (8, 16):
        raise ValueError(f"deeplabv3_mobilenet_v3_large output_stride must be 8 or 16, got {output_stride}")
    backbone = mobilenet_v3_large(output_stride=output_stride, width=width)
    if bn_momentum is not None:
        if not 0 < bn_momentum <= 1:
            raise ValueError(f"bn_momentum must be in (0, 1], got {bn_momentum}")
        for m in backbone.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = bn_momentum
    rates = _rates(atrous_rates, (12, 24, 36))
    return DeepLabV3(backbone, num_classes, rates, aux=aux, channels=max(8, int(round(256 * width))))
