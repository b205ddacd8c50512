"""DeconvNet (Noh et al., 2015): a VGG-16 encoder and a mirrored decoder of unpooling and deconvolution.

Encoder: ``features`` is laid out index for index like torchvision's ``vgg16_bn().features`` (13 conv + BN + ReLU
in blocks 2-2-3-3-3, a 2x2 max pooling after each block, kept with its indices), so ImageNet VGG16-BN weights
map directly (``classifier.0/3`` map to ``fc6/fc7``, see pretrained.py). Middle: ``fc6`` 7x7 conv (4096),
``fc7`` 1x1 conv (4096), ``deconv6`` 7x7 transposed conv back to 512 channels. The paper's fc6 has no padding (a
224 input gives a 1x1 map and the 7x7 deconvolution restores 7x7); here fc6 and deconv6 use padding 3 so every
input size >= 32 works and pool5's size is kept. Decoder: per block, unpooling that puts each value back at the
position its max came from (saved indices, to the pre-pooling size, so sizes that are not multiples of 32 work),
then 3-3-3-2-2 transposed 3x3 convolutions with BN + ReLU, the last of a block reducing the channels as in the
paper; ``score`` is the final 1x1 classifier. ``width`` scales every channel count (the 4096 middle too).

Unpooling is written as a scatter into a zero map (exported as ONNX ScatterElements), because torch has no ONNX
export for ``max_unpool2d``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from . import register_model

VGG16 = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))  # conv widths per block
DECODER = ((512, 512, 512), (512, 512, 256), (256, 256, 128), (128, 64), (64, 64))  # deconv5 .. deconv1


def unpool(x: torch.Tensor, indices: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Max unpooling: a zero map of ``size`` (H, W) holding each value of ``x`` at its flat per-plane index."""
    n, c = x.shape[0], x.shape[1]
    h, w = size[0], size[1]
    out = x.new_zeros((n, c, h * w)).scatter(2, indices.flatten(2), x.flatten(2))
    return out.view(n, c, h, w)


def _bn_relu(conv: nn.Module, cout: int) -> nn.Sequential:
    return nn.Sequential(conv, nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class DeconvNet(nn.Module):
    """VGG-16-BN encoder with pooling indices -> fc6/fc7/deconv6 -> unpool + deconv decoder -> 1x1 ``score``."""

    backbone_prefix = "features."  # an ImageNet vgg16_bn checkpoint's features.* keys land here unchanged
    head_prefixes = ("score.",)
    # The trainer's channels-last layout: MaxUnpool2d made a CPU training step 19 % slower in it (the other
    # architectures were 13-37 % faster), so DeconvNet keeps the contiguous layout.
    channels_last = False

    def __init__(self, num_classes: int = 21, width: float = 1.0) -> None:
        super().__init__()
        if width <= 0:
            raise ValueError(f"DeconvNet width must be > 0, got {width}")

        def ch(c: int) -> int:
            return max(4, int(round(c * width)))

        layers: list[nn.Module] = []
        cin = 3
        for block in VGG16:
            for c in block:
                layers += [nn.Conv2d(cin, ch(c), 3, padding=1), nn.BatchNorm2d(ch(c)), nn.ReLU(inplace=True)]
                cin = ch(c)
            layers.append(nn.MaxPool2d(2, 2, return_indices=True))
        self.features = nn.Sequential(*layers)
        self.fc6 = _bn_relu(nn.Conv2d(cin, ch(4096), 7, padding=3), ch(4096))
        self.fc7 = _bn_relu(nn.Conv2d(ch(4096), ch(4096), 1), ch(4096))
        self.deconv6 = _bn_relu(nn.ConvTranspose2d(ch(4096), cin, 7, padding=3), cin)
        blocks = []
        for block in DECODER:
            convs = []
            for c in block:
                convs.append(_bn_relu(nn.ConvTranspose2d(cin, ch(c), 3, padding=1), ch(c)))
                cin = ch(c)
            blocks.append(nn.Sequential(*convs))
        self.deconv5, self.deconv4, self.deconv3, self.deconv2, self.deconv1 = blocks
        self.score = nn.Conv2d(cin, num_classes, 1)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pools: list[tuple[torch.Tensor, torch.Size]] = []
        for layer in self.features:
            if isinstance(layer, nn.MaxPool2d):
                size = x.shape[-2:]
                x, idx = layer(x)
                pools.append((idx, size))
            else:
                x = layer(x)
        x = self.deconv6(self.fc7(self.fc6(x)))
        for block in (self.deconv5, self.deconv4, self.deconv3, self.deconv2, self.deconv1):
            idx, size = pools.pop()
            x = block(unpool(x, idx, size))
        return self.score(x)

    def imagenet_key(self, key: str) -> str | None:
        """This model's name for a key of torchvision's ImageNet ``vgg16_bn`` (fc6/fc7 from classifier.0/3)."""
        if key.startswith("features."):
            return key
        for src, dst in (("classifier.0.", "fc6.0."), ("classifier.3.", "fc7.0.")):
            if key.startswith(src):
                return dst + key[len(src):]
        return None


@register_model("deconvnet")
def deconvnet(num_classes: int = 21, width: float = 1.0) -> DeconvNet:
    """DeconvNet (about 252 M parameters at width 1, as in the paper); ``width`` 1/16-1/4 trains on a CPU."""
    return DeconvNet(num_classes=num_classes, width=float(width))
