"""MobileNetV3-Large feature extractor (Howard et al., 2019) laid out like torchvision's ``features``.

Index ``i`` of this ``nn.Sequential`` is torchvision's ``features[i]`` (``0.0.weight``, ``1.block.0.0.weight``,
``4.block.2.fc1.weight`` ...), so its ImageNet and DeepLabv3 weights load unchanged. As torchvision does for
segmentation, ``output_stride=16`` turns the last stage's stride into dilation 2 (``dilated=True``);
``output_stride=8`` also dilates the stride-16 stage (dilation 2, last stage 4).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

BN_EPS, BN_MOMENTUM = 0.001, 0.01  # torchvision's MobileNetV3 batch-norm settings

# (input, kernel, expanded, output, squeeze-excite, hard-swish, stride) of the 15 inverted residual blocks.
LARGE = (
    (16, 3, 16, 16, False, False, 1),
    (16, 3, 64, 24, False, False, 2),
    (24, 3, 72, 24, False, False, 1),
    (24, 5, 72, 40, True, False, 2),
    (40, 5, 120, 40, True, False, 1),
    (40, 5, 120, 40, True, False, 1),
    (40, 3, 240, 80, False, True, 2),
    (80, 3, 200, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1),
    (80, 3, 184, 80, False, True, 1),
    (80, 3, 480, 112, True, True, 1),
    (112, 3, 672, 112, True, True, 1),
    (112, 5, 672, 160, True, True, 2),
    (160, 5, 960, 160, True, True, 1),
    (160, 5, 960, 160, True, True, 1),
)


def make_divisible(v: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor`` without dropping more than 10% (torchvision's rule)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNAct(nn.Sequential):
    """Conv (no bias), batch norm, activation: torchvision's ``Conv2dNormActivation`` (indices 0, 1, 2)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, dilation: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.ReLU) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2 * dilation, dilation, groups, bias=False),
            nn.BatchNorm2d(cout, eps=BN_EPS, momentum=BN_MOMENTUM),
        ]
        if act is not None:
            layers.append(act(inplace=True))
        super().__init__(*layers)


class SqueezeExcitation(nn.Module):
    """Channel attention: global pool -> ``fc1`` -> ReLU -> ``fc2`` -> hard sigmoid -> scale."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))
        return x * F.hardsigmoid(self.fc2(s))


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise (kxk) -> optional SE -> project (1x1), residual when shapes allow; ``block.*``."""

    def __init__(self, cin: int, kernel: int, expanded: int, cout: int, se: bool, hswish: bool, stride: int,
                 dilation: int = 1) -> None:
        super().__init__()
        act = nn.Hardswish if hswish else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != cin:
            layers.append(ConvBNAct(cin, expanded, 1, act=act))
        layers.append(ConvBNAct(expanded, expanded, kernel, 1 if dilation > 1 else stride, dilation, expanded, act))
        if se:
            layers.append(SqueezeExcitation(expanded, make_divisible(expanded // 4)))
        layers.append(ConvBNAct(expanded, cout, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.use_res_connect = stride == 1 and cin == cout
        self.out_channels = cout
        self.is_strided = stride > 1  # torchvision's ``_is_cn``: a block that starts a new stage

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return y + x if self.use_res_connect else y


class MobileNetV3Large(nn.Sequential):
    """Stem, 15 inverted residual blocks and the 1x1 last conv (indices 0..16); ``forward`` returns
    ``{"aux": stride-8 feature (features[4], 40 ch), "out": last feature (features[16], 960 ch)}``."""

    def __init__(self, output_stride: int = 16, width: float = 1.0) -> None:
        if output_stride not in (8, 16, 32):
            raise ValueError(f"MobileNetV3 output_stride must be 8, 16 or 32, got {output_stride}")
        if width <= 0:
            raise ValueError(f"MobileNetV3 width must be > 0, got {width}")

        def ch(c: int) -> int:
            return make_divisible(c * width)

        layers: list[nn.Module] = [ConvBNAct(3, ch(16), 3, 2, act=nn.Hardswish)]
        stride, dilation = 2, 1
        for cin, k, exp, cout, se, hs, s in LARGE:
            if s > 1 and stride >= output_stride:
                dilation *= s
            elif s > 1:
                stride *= s
            layers.append(InvertedResidual(ch(cin), k, ch(exp), ch(cout), se, hs, s, dilation))
        last_in = ch(LARGE[-1][3])
        layers.append(ConvBNAct(last_in, 6 * last_in, 1, act=nn.Hardswish))
        super().__init__(*layers)
        strided = [i for i, m in enumerate(self) if getattr(m, "is_strided", False)]
        self.aux_index = strided[-3]  # torchvision's C2 (stride 8, 40 channels at width 1)
        self.aux_channels = self[self.aux_index].out_channels
        self.out_channels = 6 * last_in
        self.output_stride = output_stride
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        aux = x
        for i, layer in enumerate(self):
            x = layer(x)
            if i == self.aux_index:
                aux = x
        return {"aux": aux, "out": x}


def mobilenet_v3_large(output_stride: int = 16, width: float = 1.0) -> MobileNetV3Large:
    """MobileNetV3-Large features; ``width`` is torchvision's ``width_mult`` (1.0 needed for its weights)."""
    return MobileNetV3Large(output_stride=output_stride, width=width)
