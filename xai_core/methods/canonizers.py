"""Canonizers for video nets: while LRP runs, rewrite what zennit's rules cannot see into modules they can.

A canonizer (zennit, Anders et al. 2021) changes a model temporarily and undoes it on removal;
LRP's rules attach to modules, so every operation that must split relevance needs one:
- a residual addition `a + b` in forward gets the gradient's rule: both summands receive all of
  the sum's relevance, so every residual block doubles it (measured: x256 on torchvision's r3d_18,
  8 blocks). Here it becomes an `Add` module (zennit's hooks take a module's several inputs), which
  the composites give the z-rule (lrp.Shares, zennit's Norm for a sum): each summand keeps its
  share a / (a + b), or, in a composite with z+ on its convolutions, the z+ rule: a+ / (a+ + b+).
  (zennit's own ResNet canonizer stacks the summands for its `Sum`, a copy of both per block.)
- a mean in forward (`x.mean(dim)`, `F.avg_pool3d`) would spread relevance evenly over its
  inputs; as an `Average` module it gets the z-rule (zennit's Norm: each input in proportion to
  its value).
- an elementwise rescaling of the input (the flow stream's noise floor and scale) is `Pointwise`:
  relevance passes through it unchanged (zennit's `Pass`, as for activations).

What zennit already has is used as it is: `SequentialMergeBatchNorm` merges each batch norm into
the convolution before it for Conv1d/2d/3d alike (its types cover Conv3d and BatchNorm3d), made
exact here (`MergeBatchNormExact`: zennit leaves the batch norm dividing by sqrt(1 + eps), which
shrinks I3D's output by 5e-4 per layer), and its canonizers for torchvision's *image* ResNet
blocks (per-frame encoders). Max pooling needs none: no composite gives it a rule, so its
gradient routes all relevance to each window's maximum (winner-take-all), which conserves it;
concatenated Inception branches need none either (relevance splits by channel, then each
branch's input adds up what its branches send back).

Each forward below is its model's own forward with those operations swapped in; the tests check
that the canonized model computes the same logits as the original (tests/test_lrp.py).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.video import resnet as video_resnet
from zennit.canonizers import AttributeCanonizer, SequentialMergeBatchNorm
from zennit.torchvision import ResNetBasicBlockCanonizer, ResNetBottleneckCanonizer

from ..models import i3d, zoo
from .lrp_lstm import lrp_forward


class Average(nn.Module):
    """A mean of its input given as a function (a mean over axes, an average pool): the z-rule's module."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class Pointwise(nn.Module):
    """An elementwise function of its input, each output from its own input: relevance passes through."""

    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class Add(nn.Module):
    """a + b + ...: a residual sum as a module, so that a rule can split its relevance by shares."""

    def forward(self, *summands: torch.Tensor) -> torch.Tensor:
        total = summands[0]
        for s in summands[1:]:
            total = total + s
        return total


class LogitAdd(Add):
    """A sum of logits (late fusion of streams): every composite gives it the z-rule, so each stream
    keeps its share of the fused logit, of either sign (a residual Add follows the composite)."""


class MergeBatchNormExact(SequentialMergeBatchNorm):
    """zennit's SequentialMergeBatchNorm, with the merged batch norm an exact identity.

    zennit sets running_var = 1, so the merged layer still divides by sqrt(1 + eps); here it is
    1 - eps. Undone, like zennit's, by restoring the saved parameters.
    """

    @staticmethod
    def merge_batch_norm(modules, batch_norm):
        SequentialMergeBatchNorm.merge_batch_norm(modules, batch_norm)
        batch_norm.running_var.data = torch.full_like(batch_norm.running_var.data, 1 - batch_norm.eps)


class ForwardCanonizer(AttributeCanonizer):
    """Give every module of exactly type `kind` the forward `forward(self, x)` and the modules it calls.

    `modules(module)` -> {attribute: nn.Module} set on each such module while registered (named
    lrp_*, so no existing child is replaced: removal deletes them). Subclasses are left alone:
    their forward may differ.
    """

    def __init__(self, kind: type, forward, modules=lambda module: {}):
        self.kind, self.forward, self.modules = kind, forward, modules
        super().__init__(self.attributes)

    def attributes(self, name: str, module: nn.Module) -> dict | None:
        if type(module) is not self.kind:
            return None
        return {"forward": self.forward.__get__(module), **self.modules(module)}

    def copy(self):
        return ForwardCanonizer(self.kind, self.forward, self.modules)


def mean_over(*dims):
    """{"lrp_mean": Average(x.mean(dims))}: a module's global average."""
    return lambda module: {"lrp_mean": Average(lambda x: x.mean(dim=dims))}


def with_sum(module: nn.Module) -> dict:
    return {"lrp_sum": Add()}


# ---- the bundled zoo (xai_core.models.zoo) ------------------------------------------------

def _c3d(self, x):
    x = self.pool2(self.block2(self.stem(x)))
    x = self.block4(self.pool3(self.block3(x)))
    return self.head(self.lrp_mean(x))                                  # (N, 8w, T', H', W') -> (N, K)


def _residual21d(self, x):
    return self.relu(self.lrp_sum(self.conv2(self.conv1(x)), self.shortcut(x)))


def _r2plus1d(self, x):
    x = self.layer3(self.layer2(self.layer1(self.stem(x))))
    return self.head(self.lrp_mean(x))


def _frame2d_pool(self, x):
    return self.head(self.lrp_mean(self.embed(self.encoder(x))))       # (N, T, D) -> (N, D) -> (N, K)


def _flow_stream(self, flow):
    x = self.pool1(self.block1(self.pool0(self.lrp_input(flow))))      # steady motion, floor, scale
    x = self.block3(self.pool2(self.block2(x)))
    return self.head(self.lrp_mean(x))


def _flow_modules(module):
    # Relevance passes through as if pointwise: a steady vector's relevance goes to its own field.
    # (The steady average mixes 3 fields; a z-rule through it would divide by steady components
    # near 0, to which the first layer's flat rule still gives relevance.)
    return {"lrp_input": Pointwise(lambda flow: module.shrink(module.steady(flow)) / module.scale),
            **mean_over(2, 3, 4)(module)}


def _with_logit_sum(module: nn.Module) -> dict:
    return {"lrp_sum": LogitAdd()}


def _two_stream(self, x):
    return self.lrp_sum(self.rgb(x), self.flow(self.compute_flow(x)))   # late fusion by shares


# ---- torchvision's video ResNets (r3d_18, mc3_18, r2plus1d_18) -----------------------------

def _video_basic_block(self, x):
    residual = x if self.downsample is None else self.downsample(x)
    return self.relu(self.lrp_sum(self.conv2(self.conv1(x)), residual))


def _video_bottleneck(self, x):
    residual = x if self.downsample is None else self.downsample(x)
    return self.relu(self.lrp_sum(self.conv3(self.conv2(self.conv1(x))), residual))


# ---- Inception-I3D (xai_core.models.i3d) ---------------------------------------------------

def _same_padded_conv(self, x):
    """The convolution pads its own input ("SAME"), so the first layer's rule sees the clip itself."""
    return self._conv_forward(i3d._pad_same(x, self.kernel_size, self.stride), self.weight, self.bias)


def _unit3d(self, x):
    return self.relu(self.bn(self.conv(x)))                             # the convolution pads itself


class SamePaddingCanonizer(AttributeCanonizer):
    """A Unit3D pads inside its convolution: zennit's Flat and box rules put relevance on every
    input of a layer, and padding added before the layer would take (and drop) a share of it."""

    def __init__(self):
        super().__init__(lambda name, module: None)

    def apply(self, root_module):
        instances = []
        for unit in root_module.modules():
            if type(unit) is i3d.Unit3D:
                for module, forward in ((unit, _unit3d), (unit.conv, _same_padded_conv)):
                    instance = AttributeCanonizer(self.attribute_map)
                    instance.register(module, {"forward": forward.__get__(module)})
                    instances.append(instance)
        return instances

    def copy(self):
        return SamePaddingCanonizer()


def _i3d(self, x):
    net = x
    for name in self.end_points:
        net = self._modules[name](net)                                  # (N, 1024, T', H', W')
    return self.lrp_mean(self.logits(self.lrp_pool(net)))               # (N, K)


def _i3d_modules(module):
    pool = Average(lambda x: F.avg_pool3d(x, (min(2, x.shape[2]), 7, 7), stride=1))
    return {"lrp_pool": pool, "lrp_mean": Average(lambda z: z.mean(dim=(3, 4)).mean(dim=2))}


class LSTMCanonizer(AttributeCanonizer):
    """nn.LSTM runs `lrp_lstm.lrp_forward`: same outputs, relevance by Arras et al.'s rule."""

    def __init__(self, epsilon: float):
        self.epsilon = epsilon
        super().__init__(self.attributes)

    def attributes(self, name, module):
        if type(module) is nn.LSTM:
            return {"forward": lambda input, hx=None: lrp_forward(module, self.epsilon, input, hx)}
        return None

    def copy(self):
        return LSTMCanonizer(self.epsilon)


def video_canonizers(epsilon: float) -> list:
    """Every canonizer for the video nets this project knows, in the order they are applied."""
    return [
        MergeBatchNormExact(),
        ForwardCanonizer(zoo.C3DSmall, _c3d, mean_over(2, 3, 4)),
        ForwardCanonizer(zoo.Residual21D, _residual21d, with_sum),
        ForwardCanonizer(zoo.R2Plus1DSmall, _r2plus1d, mean_over(2, 3, 4)),
        ForwardCanonizer(zoo.Frame2DPool, _frame2d_pool, mean_over(1)),
        ForwardCanonizer(zoo.FlowStream, _flow_stream, _flow_modules),
        ForwardCanonizer(zoo.TwoStream, _two_stream, _with_logit_sum),
        ForwardCanonizer(video_resnet.BasicBlock, _video_basic_block, with_sum),
        ForwardCanonizer(video_resnet.Bottleneck, _video_bottleneck, with_sum),
        ResNetBasicBlockCanonizer(),                    # torchvision's image ResNets (per-frame encoders)
        ResNetBottleneckCanonizer(),
        SamePaddingCanonizer(),
        ForwardCanonizer(i3d.InceptionI3d, _i3d, _i3d_modules),
        LSTMCanonizer(epsilon),
    ]
