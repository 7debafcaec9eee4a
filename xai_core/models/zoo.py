"""The bundled architectures: small versions of the four families in the paper's section 1, and a
two-stream net (RGB + optical flow).

All take (N, C, T, H, W) and return logits (N, K). Each names the layer CAM methods use; that
layer's output is always (N, C', T', H', W') so one Grad-CAM serves every family.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F


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


class FlowStream(nn.Module):
    """A small 3D CNN on optical flow (N, 2, T-1, H, W) in pixels per frame -> logits (N, K).

    First a noise floor on steady motion (`steady`, then `shrink`): each flow vector is averaged
    with its neighbours in time (`window` fields at the same pixel, cut short at the ends), and
    that steady vector's length is shrunk by `floor` pixels per frame (soft thresholding,
    f * max(0, 1 - floor / |f|)), so steady motion below the floor is exactly 0 and so is its
    gradient. The defaults are the moving-pixel rule of xai_core.motion.moving (3 fields, 0.65
    px/frame, chosen there on still clips: 3.1% false alarms): the stream sees exactly the flow
    that rule calls moving. Why steady: DIS reads sensor noise in a new direction in each field
    (0.39 px/frame at the median still voxel, 0.80 at the 90th percentile), so averaging three
    fields shrinks it (median 0.18) while a limb that keeps its direction keeps its speed.
    Measured before (docs/ground_truth.md "motion-flow"): a stream on raw flow put 51% of its
    integrated-gradients relevance on moving pixels, one with a floor of 0.6 px/frame on each raw
    field 77% (noise above 0.6 in one field survived it, and a floor of 0.8 cost the slow
    sit_down / stand_up to 76-79% accuracy).
    Then the flow is divided by `scale` (pixels per frame; the synthetic figure moves 0.5-4) so its
    input is of order 1, and halved in size by average pooling: DIS flow is smooth on the
    scale of its 8 x 8 patches, so nothing is lost. Global average pooling at the end: the
    direction of motion is in the sign of the features, not in where they are.
    """

    cam_layer = "block3"

    def __init__(self, num_classes: int, width: int = 16, scale: float = 2.0, floor: float = 0.65,
                 window: int = 3):
        super().__init__()
        if window < 1 or window % 2 == 0:
            raise ValueError(f"FlowStream: window must be an odd number of flow fields >= 1, got {window!r}")
        w = width
        self.scale = scale
        self.floor = floor
        self.window = window
        self.pool0 = nn.AvgPool3d((1, 2, 2))                           # (N, 2, T-1, H/2, W/2)
        self.block1 = conv3d_bn(2, w)
        self.pool1 = nn.MaxPool3d((1, 2, 2))                           # H/4
        self.block2 = conv3d_bn(w, 2 * w)
        self.pool2 = nn.MaxPool3d((2, 2, 2), ceil_mode=True)           # (T-1)/2, H/8
        self.block3 = conv3d_bn(2 * w, 4 * w)                          # CAM layer: (N, 4w, T'', H/8, W/8)
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * w, num_classes))

    def steady(self, flow: torch.Tensor) -> torch.Tensor:
        """(N, 2, T-1, H, W) -> the same, each vector the mean of `window` consecutive fields at its pixel.

        The torch twin of xai_core.motion.moving.steady_flow (same window, cut short at the ends)."""
        if self.window == 1 or flow.shape[2] < 2:
            return flow
        n, k = flow.shape[2], self.window // 2
        padded = F.pad(flow, (0, 0, 0, 0, k, k))                          # zero fields before and after
        total = sum(padded[:, :, i:i + n] for i in range(self.window))   # a sum of shifts: each field
        t = torch.arange(n, device=flow.device)                          # reaches only its window
        count = (t + k + 1).clamp(max=n) - (t - k).clamp(min=0)          # (cumsum would leak ~1e-14
        return total / count.to(flow.dtype).view(1, 1, n, 1, 1)          # of gradient to all fields)

    def shrink(self, flow: torch.Tensor) -> torch.Tensor:
        """The noise floor: (N, 2, T-1, H, W) -> the same with each vector |f| shrunk to max(0, |f| - floor)."""
        if self.floor <= 0:
            return flow
        length = (flow.square().sum(1, keepdim=True) + 1e-12).sqrt()          # (N, 1, T-1, H, W)
        return flow * (1 - self.floor / length.clamp_min(self.floor))      # 0 (and no gradient) below the floor

    def forward(self, flow: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.block1(self.pool0(self.shrink(self.steady(flow)) / self.scale)))
        x = self.block3(self.pool2(self.block2(x)))
        return self.head(x.mean(dim=(2, 3, 4)))                        # global average over T'', H', W'


class TwoStream(nn.Module):
    """Two-stream net: an RGB (appearance) stream and an optical-flow (motion) stream, logits summed.

    After Simonyan & Zisserman (NeurIPS 2014): late fusion of a network on the frames and one on
    the flow between them. Input is the normalised RGB clip (N, 3, T, H, W) like every bundled
    model; the flow is computed inside forward (un-normalised with `mean`/`std` to uint8, DIS
    optical flow per clip, xai_core.motion.flow.dis_flow, cached per clip in eval mode) without
    gradients: gradient methods see the RGB stream only, perturbation methods both.

        rgb   Frame2DPool: a per-frame 2D CNN averaged over time (order-blind: appearance)
        flow  FlowStream on (N, 2, T-1, H, W): sees which way things move
    """

    cam_layer = "rgb.encoder"

    def __init__(self, num_classes: int, mean=(0.45, 0.45, 0.45), std=(0.25, 0.25, 0.25),
                 width: int = 8, size: int = 64):
        super().__init__()
        self.mean, self.std = tuple(mean), tuple(std)
        self.rgb = Frame2DPool(num_classes, width=width, size=size)
        self.flow = FlowStream(num_classes)

    def compute_flow(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised clips (N, 3, T, H, W) -> their DIS flow (N, 2, T-1, H, W), pixels per frame, no graph."""
        from ..motion.flow import dis_flow

        N, C, T, H, W = x.shape
        mean = x.new_tensor(self.mean).view(1, C, 1, 1, 1)
        std = x.new_tensor(self.std).view(1, C, 1, 1, 1)
        with torch.no_grad():
            rgb = ((x.detach() * std + mean) * 255).round_().clamp_(0, 255)      # (N, C, T, H, W)
            frames = rgb.to("cpu", torch.uint8).permute(0, 2, 3, 4, 1).numpy()   # (N, T, H, W, C)
        flows = [dis_flow(f, cache=not self.training) for f in frames]           # N x (T-1, H, W, 2)
        flow = torch.from_numpy(np.stack(flows)).to(x.device, x.dtype)           # (N, T-1, H, W, 2)
        return flow.permute(0, 4, 1, 2, 3)                                       # (N, 2, T-1, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rgb(x) + self.flow(self.compute_flow(x))                     # late fusion: logits summed
