"""ResNet-50 feature extractor (He et al., 2016) laid out exactly like torchvision's ``resnet50``.

Module names (``conv1``, ``bn1``, ``layer1.0.conv1``, ``layer1.0.downsample.0`` ...) match torchvision, so
its ImageNet and DeepLabv3 checkpoints load unchanged; the classification ``avgpool``/``fc`` are left out.
``output_stride`` 8 or 16 replaces the last strides with dilation as torchvision's
``replace_stride_with_dilation`` does: the first block of a dilated stage keeps the previous dilation.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided or dilated), 1x1 expand (x4), with a projection shortcut when shapes change."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, dilation: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """Stem + four bottleneck stages; ``forward`` returns ``{"aux": layer3, "out": layer4}`` features."""

    def __init__(self, layers: tuple[int, int, int, int] = (3, 4, 6, 3), output_stride: int = 32,
                 width: float = 1.0) -> None:
        super().__init__()
        if output_stride not in (8, 16, 32):
            raise ValueError(f"ResNet output_stride must be 8, 16 or 32, got {output_stride}")
        if width <= 0:
            raise ValueError(f"ResNet width must be > 0, got {width}")
        # Which of layer2..layer4 trade their stride for dilation (torchvision's replace_stride_with_dilation).
        dilate = {8: (False, True, True), 16: (False, False, True), 32: (False, False, False)}[output_stride]
        base = max(4, int(round(64 * width)))
        self.inplanes = base
        self.dilation = 1
        self.conv1 = nn.Conv2d(3, base, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(base, layers[0])
        self.layer2 = self._make_layer(base * 2, layers[1], stride=2, dilate=dilate[0])
        self.layer3 = self._make_layer(base * 4, layers[2], stride=2, dilate=dilate[1])
        self.layer4 = self._make_layer(base * 8, layers[3], stride=2, dilate=dilate[2])
        self.aux_channels = base * 4 * Bottleneck.expansion
        self.out_channels = base * 8 * Bottleneck.expansion
        self.output_stride = output_stride
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes: int, blocks: int, stride: int = 1, dilate: bool = False) -> nn.Sequential:
        previous = self.dilation
        if dilate:
            self.dilation *= stride
            stride = 1
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * Bottleneck.expansion))
        layers = [Bottleneck(self.inplanes, planes, stride, previous, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes, dilation=self.dilation) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer2(self.layer1(x))
        aux = self.layer3(x)
        return {"aux": aux, "out": self.layer4(aux)}


def resnet50(output_stride: int = 32, width: float = 1.0) -> ResNet:
    """ResNet-50 features; ``width`` scales every channel count (1.0 = torchvision's, needed for its weights)."""
    return ResNet((3, 4, 6, 3), output_stride=output_stride, width=width)
