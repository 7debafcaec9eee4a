"""The bundled architectures: small versions of the four families in the paper's section 1.

All take (N, C, T, H, W) and return logits (N, K). Each names the layer CAM methods use; that
layer's output is always (N, C', T', H', W') so one Grad-CAM serves every family.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn


def conv3d_bn(c_in: int, c_out: int, kernel=3, stride=1, padding=1) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm3d(c_out), nn.ReLU(inplace=True))


def conv2d_bn(c_in: int, c_out: int, kernel=3, stride=1, padding=1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class C3DSmall(nn.Module):
    """3D CNN (C3D-like): 3x3x3 convolutions see space and time together from the first layer."""

    cam_layer = "block4"

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        w = width
        self.stem = conv3d_bn(3, w, (3, 5, 5), (1, 2, 2), (1, 2, 2))  # (N, w, T, H/2, W/2)
        self.block2 = conv3d_bn(w, 2 * w)
        self.pool2 = nn.MaxPool3d((1, 2, 2))                          # H/4
        self.block3 = conv3d_bn(2 * w, 4 * w)
        self.pool3 = nn.MaxPool3d((2, 2, 2))                          # T/2, H/8
        self.block4 = conv3d_bn(4 * w, 8 * w)                         # CAM layer: (N, 8w, T/2, H/8, W/8)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(8 * w, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool2(self.block2(self.stem(x)))
        x = self.block4(self.pool3(self.block3(x)))
        return self.head(x.mean(dim=(2, 3, 4)))  # global average over T', H', W'


class SpatioTemporalConv(nn.Sequential):
    """(2+1)D convolution: a spatial 1xkxk convolution, then a temporal kx1x1 one."""

    def __init__(self, c_in: int, c_out: int, stride=(1, 1, 1), mid: int | None = None):
        mid = mid or c_out
        st, sh, sw = stride
        super().__init__(OrderedDict(
            spatial=nn.Conv3d(c_in, mid, (1, 3, 3), (1, sh, sw), (0, 1, 1), bias=False),
            bn1=nn.BatchNorm3d(mid), relu1=nn.ReLU(inplace=True),
            temporal=nn.Conv3d(mid, c_out, (3, 1, 1), (st, 1, 1), (1, 0, 0), bias=False),
            bn2=nn.BatchNorm3d(c_out)))


class Residual21D(nn.Module):
    """Residual block of two (2+1)D convolutions, as in R(2+1)D."""

    def __init__(self, c_in: int, c_out: int, stride=(1, 1, 1)):
        super().__init__()
        self.conv1 = nn.Sequential(SpatioTemporalConv(c_in, c_out, stride), nn.ReLU(inplace=True))
        self.conv2 = SpatioTemporalConv(c_out, c_out)
        self.shortcut = nn.Identity() if c_in == c_out and stride == (1, 1, 1) else nn.Sequential(
            nn.Conv3d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm3d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.conv1(x)) + self.shortcut(x))


class R2Plus1DSmall(nn.Module):
    """(2+1)D residual net: space and time factorised into separate convolutions."""

    cam_layer = "layer3"

    def __init__(self, num_classes: int, width: int = 16):
        super().__init__()
        w = width
        self.stem = nn.Sequential(
            nn.Conv3d(3, 24, (1, 5, 5), (1, 2, 2), (0, 2, 2), bias=False), nn.BatchNorm3d(24),
            nn.ReLU(inplace=True),
            nn.Conv3d(24, w, (3, 1, 1), 1, (1, 0, 0), bias=False), nn.BatchNorm3d(w),
            nn.ReLU(inplace=True))                                        # (N, w, T, H/2, W/2)
        self.layer1 = Residual21D(w, 2 * w, (1, 2, 2))                    # H/4
        self.layer2 = Residual21D(2 * w, 4 * w, (2, 2, 2))                # T/2, H/8
        self.layer3 = Residual21D(4 * w, 8 * w)                           # CAM layer
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(8 * w, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.head(x.mean(dim=(2, 3, 4)))


class FrameEncoder(nn.Module):
    """A 2D CNN applied to every frame alone: (N, C, T, H, W) -> (N, C', T, H/8, W/8)."""

    def __init__(self, width: int = 16):
        super().__init__()
        w = width
        self.cnn = nn.Sequential(
            conv2d_bn(3, w, 5, 2, 2), conv2d_bn(w, 2 * w), nn.MaxPool2d(2),
            conv2d_bn(2 * w, 4 * w), nn.MaxPool2d(2), conv2d_bn(4 * w, 8 * w))
        self.out_channels = 8 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, T, H, W = x.shape                                  # batch, channels, time, height, width
        y = self.cnn(x.transpose(1, 2).reshape(N * T, C, H, W))  # (N*T, C', h, w)
        return y.view(N, T, *y.shape[1:]).transpose(1, 2)        # (N, C', T, h, w)


class FrameEmbedding(nn.Module):
    """Per-frame features that keep *where* things are: (N, C', T, h, w) -> (N, T, D).

    A 1x1 convolution narrows the channels, then a linear layer reads the whole small map, as the
    fully connected layers of LRCN-style CNN+LSTM models do (global pooling would forget where
    the figure is, and with it the direction of a walk).
    """

    def __init__(self, channels: int, size: int, dim: int = 128, narrow: int = 16):
        super().__init__()
        self.narrow = nn.Sequential(nn.Conv2d(channels, narrow, 1), nn.ReLU(inplace=True))
        self.fc = nn.Sequential(nn.Linear(narrow * size * size, dim), nn.ReLU(inplace=True))

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        N, C, T, h, w = f.shape
        y = self.narrow(f.transpose(1, 2).reshape(N * T, C, h, w))  # (N*T, narrow, h, w)
        return self.fc(y.flatten(1)).view(N, T, -1)                  # (N, T, D)


class Frame2DPool(nn.Module):
    """Per-frame 2D CNN, features averaged over time: it cannot see the order of frames."""

    cam_layer = "encoder"

    def __init__(self, num_classes: int, width: int = 16, size: int = 64, dim: int = 128):
        super().__init__()
        self.encoder = FrameEncoder(width)
        self.embed = FrameEmbedding(self.encoder.out_channels, size // 8, dim)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(dim, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.embed(self.encoder(x))      # (N, T, D)
        return self.head(e.mean(dim=1))      # mean over time: order-blind


class CNNLSTM(nn.Module):
    """Per-frame 2D CNN feeding an LSTM over time; the last hidden state classifies."""

    cam_layer = "encoder"

    def __init__(self, num_classes: int, width: int = 16, size: int = 64, dim: int = 128,
                 hidden: int = 128):
        super().__init__()
        self.encoder = FrameEncoder(width)
        self.embed = FrameEmbedding(self.encoder.out_channels, size // 8, dim)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(hidden, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(self.encoder(x)))  # (N, T, hidden)
        return self.head(out[:, -1])
