"""UNet (Ronneberger et al., 2015): four down and four up stages joined by skip connections.

Each stage is two 3x3 convolutions (padding 1, so the output keeps the input size, unlike the
paper's valid convolutions) with batch norm and ReLU. Down: 2x2 max pooling; up: 2x2 transposed
convolution, concatenation with the encoder feature of the same scale, two convolutions.
``width`` is the channel count of the first stage (64 in the paper); it doubles at each step down.
Inputs of any size work: an upsampled map is resized to its skip's size when they differ.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model


class DoubleConv(nn.Sequential):
    """(3x3 conv, batch norm, ReLU) x 2."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        )


class Up(nn.Module):
    """2x2 transposed convolution, concatenation with the skip feature, DoubleConv."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(cin, cout, 2, stride=2)
        self.conv = DoubleConv(2 * cout, cout)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = self.up(x)
        if x.shape[-2:] != skip.shape[-2:]:
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv(torch.cat([skip, x], dim=1))


class UNet(nn.Module):
    """Encoder ``inc, down1..down4`` -> decoder ``up1..up4`` -> 1x1 ``head`` (logits, input size)."""

    def __init__(self, num_classes: int = 2, width: int = 64, in_channels: int = 3) -> None:
        super().__init__()
        if width < 1:
            raise ValueError(f"UNet width must be >= 1, got {width}")
        w = [width * 2**i for i in range(5)]
        self.inc = DoubleConv(in_channels, w[0])
        self.downs = nn.ModuleList([nn.Sequential(nn.MaxPool2d(2), DoubleConv(w[i], w[i + 1])) for i in range(4)])
        self.ups = nn.ModuleList([Up(w[i + 1], w[i]) for i in reversed(range(4))])
        self.head = nn.Conv2d(w[0], num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.inc(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            y = up(y, skips.pop())
        return self.head(y)


@register_model("unet")
def unet(num_classes: int = 2, width: int = 64, **kwargs) -> UNet:
    """UNet with ``width`` channels in the first stage (64 as in the paper; 16-32 run well on a CPU)."""
    return UNet(num_classes=num_classes, width=int(width), **kwargs)
