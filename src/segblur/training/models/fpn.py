"""A light FPN decoder with an LR-ASPP context gate, and the model that joins it to any multi-scale encoder.

Decoder (after Howard et al. 2019's LR-ASPP and Lin et al. 2017's FPN): the coarsest feature goes through a
1x1 conv gated by its global average (sigmoid), then top-down: upsample x2, add a 1x1 lateral projection of the
encoder feature at that stride, one depthwise-separable 3x3 conv; a 1x1 classifier at the finest level used
(``finest`` stride 2, 4 or 8); logits are bilinearly upsampled to the input size. Everything is Conv, BatchNorm,
ReLU, Resize: cheap in ONNX Runtime and friendly to INT8.

An encoder is any module whose ``forward`` returns features finest first (strides 2, 4, 8, ...) and whose
``out_channels`` lists their channels; with ``imagenet_key`` it can start from a classifier's weights
(see pretrained.py).
"""

from __future__ import annotations

import re

import torch
import torch.nn as nn
import torch.nn.functional as F


def conv_bn_relu(cin: int, cout: int, kernel: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias), batch norm, ReLU."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, 1, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class FPNDecoder(nn.Module):
    """Context-gated top feature, top-down fusion with lateral 1x1 projections down to stride ``finest``."""

    def __init__(self, in_channels: list[int], num_classes: int, width: int = 64, finest: int = 4) -> None:
        super().__init__()
        if finest not in (2, 4, 8):
            raise ValueError(f"decoder finest stride must be 2, 4 or 8, got {finest}")
        if width < 1:
            raise ValueError(f"decoder width must be >= 1, got {width}")
        self.first = {2: 0, 4: 1, 8: 2}[finest]  # index of the finest encoder feature used
        if self.first >= len(in_channels) - 1:
            raise ValueError(f"decoder finest stride {finest} needs a coarser encoder feature to fuse")
        levels = in_channels[self.first:]
        self.context = conv_bn_relu(levels[-1], width)
        self.gate = nn.Conv2d(levels[-1], width, 1)
        self.lateral = nn.ModuleList([nn.Conv2d(c, width, 1) for c in levels[:-1]])
        self.fuse = nn.ModuleList([nn.Sequential(conv_bn_relu(width, width, 3, groups=width),
                                                 conv_bn_relu(width, width)) for _ in levels[:-1]])
        self.classifier = nn.Conv2d(width, num_classes, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        feats = feats[self.first:]
        top = feats[-1]
        y = self.context(top) * torch.sigmoid(self.gate(top.mean((2, 3), keepdim=True)))
        for i in range(len(feats) - 2, -1, -1):
            y = F.interpolate(y, size=feats[i].shape[-2:], mode="bilinear", align_corners=False)
            y = self.fuse[i](y + self.lateral[i](feats[i]))
        return self.classifier(y)

    def adapt_state(self, state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
        """A checkpoint of this decoder reaching another ``finest`` stride, renamed for this one.

        ``lateral.i`` and ``fuse.i`` count from the finest level, so a decoder one level finer numbers the same
        stride one higher: the levels both have are shifted into place (the extra finer one of this decoder keeps
        its init, an extra one of the file is dropped), and the classifier, which has the same shape at any
        stride, carries over. Lets ``--pretrained best.pt`` start a finer decoder from a trained coarser one.
        """
        pattern = re.compile(re.escape(prefix) + r"(lateral|fuse)\.(\d+)\.(.*)")
        theirs = {int(m.group(2)) for k in state if (m := pattern.fullmatch(k)) and m.group(1) == "lateral"}
        if not theirs:
            return state
        shift = len(self.lateral) - (max(theirs) + 1)
        if shift == 0:
            return state
        out: dict[str, torch.Tensor] = {}
        for key, value in state.items():
            m = pattern.fullmatch(key)
            if m is None:
                out[key] = value
            elif 0 <= int(m.group(2)) + shift < len(self.lateral):
                out[f"{prefix}{m.group(1)}.{int(m.group(2)) + shift}.{m.group(3)}"] = value
        return out


class EncoderDecoder(nn.Module):
    """``encoder`` -> ``decoder`` -> logits at the input size, with the hooks the pretrained loader and the
    trainer use: ImageNet keys go to ``encoder.*``, the per-class layer is ``decoder.classifier``.

    ``freeze_bn`` keeps every encoder batch norm in eval mode (pretrained statistics; scale and shift still train)
    through ``train()``; ``freeze_stages`` takes the encoder's stem and first stages (``encoder.frozen_modules(n)``)
    out of training altogether.
    """

    backbone_prefix = "encoder."
    head_prefixes = ("decoder.classifier.",)

    def __init__(self, encoder: nn.Module, decoder: nn.Module, *, freeze_bn: bool = False,
                 freeze_stages: int = 0) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.freeze_bn = bool(freeze_bn)
        self.frozen: list[nn.Module] = list(encoder.frozen_modules(int(freeze_stages))) if freeze_stages else []
        for m in self.frozen:
            m.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.decoder(self.encoder(x))
        return F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def train(self, mode: bool = True) -> EncoderDecoder:
        """As ``nn.Module.train``, except that frozen parts (and, with ``freeze_bn``, encoder batch norms) stay in
        eval mode, so their running statistics are the pretrained ones."""
        super().train(mode)
        if mode:
            for m in self.frozen:
                m.eval()
            if self.freeze_bn:
                for m in self.encoder.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        m.eval()
        return self

    def adapt_state(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A full checkpoint's tensors renamed where this model's encoder (a deeper variant) or decoder (another
        finest stride) numbers its blocks or levels differently."""
        for part, prefix in ((self.encoder, self.backbone_prefix), (self.decoder, "decoder.")):
            adapt = getattr(part, "adapt_state", None)
            state = state if adapt is None else adapt(state, prefix)
        return state

    def imagenet_key(self, key: str) -> str | None:
        """Where a key of the encoder's ImageNet classifier file goes (None: dropped by the encoder's rule)."""
        mapped = self.encoder.imagenet_key(key)
        return None if mapped is None else self.backbone_prefix + mapped

    def fold_input_norm(self, state: dict[str, torch.Tensor], mean: tuple[float, ...],
                        std: tuple[float, ...]) -> dict[str, torch.Tensor]:
        """Mapped ImageNet tensors adjusted so the encoder's pretrained stem expects (pixel - mean) / std."""
        fold = getattr(self.encoder, "fold_input_norm", None)
        return state if fold is None else fold(state, self.backbone_prefix, mean, std)
