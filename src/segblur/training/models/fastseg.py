"""FastSeg: a small encoder-decoder for real-time person segmentation on a CPU.

Plain 3x3 convolutions (fast to train with oneDNN, fast in ONNX Runtime), five stride-2 stages,
a global-context branch at the bottom and an FPN-style decoder back to 1/2 resolution; logits are
bilinearly upsampled to the input size. About 0.4 M parameters at the default width.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model


def conv_bn(cin: int, cout: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """3x3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class ResBlock(nn.Module):
    """Two 3x3 convolutions with an identity shortcut."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.conv1 = conv_bn(ch, ch)
        self.conv2 = nn.Sequential(nn.Conv2d(ch, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(self.conv1(x)))


class FastSeg(nn.Module):
    """Encoder (strides 2..32) -> context -> top-down decoder with lateral skips -> logits."""

    def __init__(self, num_classes: int = 2, widths: tuple[int, ...] = (16, 24, 40, 64, 96),
                 blocks: tuple[int, ...] = (0, 1, 1, 2, 2), dec: int = 32) -> None:
        super().__init__()
        stages = []
        cin = 3
        for w, n in zip(widths, blocks):
            layers = [conv_bn(cin, w, stride=2)] + [ResBlock(w) for _ in range(n)]
            stages.append(nn.Sequential(*layers))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.context = nn.Sequential(nn.Conv2d(widths[-1], widths[-1], 1, bias=False), nn.ReLU(inplace=True))
        self.lateral = nn.ModuleList([nn.Conv2d(w, dec, 1) for w in widths])
        self.smooth = nn.ModuleList([conv_bn(dec, dec) for _ in widths[:-1]])
        self.head = nn.Conv2d(dec, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        top = feats[-1] + self.context(feats[-1].mean((2, 3), keepdim=True))
        y = self.lateral[-1](top)
        for i in range(len(feats) - 2, -1, -1):
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.smooth[i](y + self.lateral[i](feats[i]))
        y = self.head(y)
        return F.interpolate(y, size=size, mode="bilinear", align_corners=False)


@register_model("fastseg")
def fastseg(num_classes: int = 2, width: float = 1.0, **kwargs) -> FastSeg:
    """The default real-time person model's architecture; ``width`` scales every channel count."""
    widths = tuple(max(8, int(round(w * width / 8)) * 8) for w in (16, 24, 40, 64, 96))
    return FastSeg(num_classes=num_classes, widths=widths, **kwargs)
