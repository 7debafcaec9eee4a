"""Incremental inference for occlusion: recompute only the part of each layer a hidden box changes.

    plan = plan_for(model)                 # Plan, or None for a net without one (plain occlusion)
    drops = incremental_drops(plan, video, target, boxes, fill, batch_size)   # (N, P)

Nakandala et al., "Incremental and approximate inference for faster occlusion-based deep CNN
explanations" (SIGMOD 2019), in space-time; written by hand, no library does it for video nets.
Occluding a (t, h, w) box of the clip changes, after each layer, only the outputs whose receptive
field meets the box: a box of 4 x 16 x 16 in a 16 x 64 x 64 clip changes 4% of c3d_small's first
layer. A Plan cuts a net into stages, each a local operator (convolutions, pooling, residual blocks
of them) with its receptive field (kernel, stride, padding per axis), and a head that reads the
last stage's whole output. The full clip's activations are computed once; for each occluded copy,
each stage runs on a slab of its input, the patched box's receptive field (cut at the clip's
edges, where the stage's own padding then applies, as in the full pass), with the changed values
written over the cached ones, and keeps only the outputs the box changed; the head runs on the
cached last activation with the changed box written in.

Exact up to float32 rounding (convolutions on a slab sum in another order): an output whose
receptive field lies in the slab depends only on inputs the slab holds, and every intermediate
value it reads has its receptive field inside that one (tests/test_incremental.py compares with
plain occlusion on every bundled net with a plan and on torchvision's r3d_18). Slabs start on a
multiple of the stage's stride, so each layer inside keeps the full pass's grid.

Plans exist for the bundled 3D nets (c3d_small, r2plus1d_small), the per-frame nets (frame2d_pool,
cnn_lstm: each frame's 2D CNN is a stage with a temporal extent of 1; the LSTM is in the head)
and torchvision's VideoResNet (r3d_18, mc3_18, r2plus1d_18). Not for two_stream (its optical flow
is computed over the whole clip inside forward) or I3D (TensorFlow "SAME" padding depends on the
input's size, so a slab would be padded differently): those run plain occlusion.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

Triple = tuple[int, int, int]


@dataclass(frozen=True)
class Stage:
    """A local operator on (N, C, T, H, W) and its receptive field: output o on an axis reads the
    inputs o * stride - padding ... o * stride - padding + kernel - 1 (zero or -inf padded)."""
    module: Callable[[torch.Tensor], torch.Tensor]
    kernel: Triple
    stride: Triple
    padding: Triple


@dataclass(frozen=True)
class Plan:
    """A net cut into local stages and a head: head(stages applied in turn to x) == net(x)."""
    stages: tuple[Stage, ...]
    head: Callable[[torch.Tensor], torch.Tensor]


class PerFrame(nn.Module):
    """A 2D module applied to every frame: (N, C, T, H, W) -> (N, C', T, H', W')."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, T, H, W = x.shape
        y = self.module(x.transpose(1, 2).reshape(N * T, C, H, W))
        return y.view(N, T, *y.shape[1:]).transpose(1, 2)


def _triple(v, fill: int | None = None) -> Triple:
    """A 3D layer's int or triple as a triple; a 2D layer's (fill given) as (fill, h, w): it has no
    reach in time (kernel and stride 1, padding 0)."""
    if fill is not None:
        return (fill,) + ((v, v) if isinstance(v, int) else tuple(v))
    return (v,) * 3 if isinstance(v, int) else tuple(v)


def geometry(module: nn.Module, per_frame: bool = False) -> tuple[Triple, Triple, Triple]:
    """(kernel, stride, padding) of `module`'s main path: its convolutions and poolings composed in
    order, leaving out parallel shortcuts (submodules named shortcut / downsample), whose receptive
    field lies inside the main path's. A module with none of them is pointwise: (1, 1, 1) thrice."""
    k, s, p = [1, 1, 1], [1, 1, 1], [0, 0, 0]
    for name, m in module.named_modules():
        if any(part in ("shortcut", "downsample") for part in name.split(".")):
            continue
        if isinstance(m, (nn.Conv3d, nn.Conv2d, nn.MaxPool3d, nn.MaxPool2d, nn.AvgPool3d, nn.AvgPool2d)):
            two_d = isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d))
            mk = _triple(m.kernel_size, 1 if two_d else None)
            ms = _triple(m.stride if m.stride is not None else m.kernel_size, 1 if two_d else None)
            mp = _triple(m.padding, 0 if two_d else None)
            dil = getattr(m, "dilation", 1)
            if any(d != 1 for d in ((dil,) if isinstance(dil, int) else dil)):
                raise ValueError(f"incremental occlusion: dilated {type(m).__name__} is not supported")
            for a in range(3):                                 # compose: this layer after the ones before
                p[a] += mp[a] * s[a]
                k[a] += (mk[a] - 1) * s[a]
                s[a] *= ms[a]
    return tuple(k), tuple(s), tuple(p)


def _stage(module: nn.Module, per_frame: bool = False) -> Stage:
    k, s, p = geometry(module)
    return Stage(PerFrame(module) if per_frame else module, k, s, p)


# ---------------------------------------------------------------- plans of the nets we know

def plan_for(model) -> Plan | None:
    """The Plan of `model` (a VideoModel or its net), or None when there is none (see the module
    docstring): occlusion then runs every occluded clip in full."""
    net = getattr(model, "net", model)
    from ..models import zoo
    if type(net) is zoo.C3DSmall:
        return Plan(tuple(_stage(m) for m in (net.stem, net.block2, net.pool2, net.block3, net.pool3, net.block4)),
                    lambda a: net.head(a.mean(dim=(2, 3, 4))))
    if type(net) is zoo.R2Plus1DSmall:
        return Plan(tuple(_stage(m) for m in (net.stem, net.layer1, net.layer2, net.layer3)),
                    lambda a: net.head(a.mean(dim=(2, 3, 4))))
    if type(net) is zoo.Frame2DPool:
        return Plan(tuple(_stage(m, per_frame=True) for m in net.encoder.cnn),
                    lambda a: net.head(net.embed(a).mean(dim=1)))
    if type(net) is zoo.CNNLSTM:
        return Plan(tuple(_stage(m, per_frame=True) for m in net.encoder.cnn),
                    lambda a: net.head(net.lstm(net.embed(a))[0][:, -1]))
    try:
        from torchvision.models.video.resnet import VideoResNet
    except ImportError:                                        # pragma: no cover - torchvision is a requirement
        VideoResNet = ()
    if isinstance(net, VideoResNet):
        return Plan(tuple(_stage(m) for m in (net.stem, net.layer1, net.layer2, net.layer3, net.layer4)),
                    lambda a: net.fc(net.avgpool(a).flatten(1)))
    return None


# ---------------------------------------------------------------- boxes through a stage

Box = tuple[tuple[int, int], ...]                 # ((t0, t1), (h0, h1), (w0, w1)), half-open


def changed(box: Box, st: Stage, out_size: Triple) -> Box:
    """The outputs whose receptive field meets `box` (input coordinates), clipped to the output."""
    out = []
    for (c0, c1), k, s, p, n in zip(box, st.kernel, st.stride, st.padding, out_size):
        o0 = max(0, (c0 + p - k) // s + 1)
        o1 = min(n, -(-(c1 + p) // s))                         # ceil((c1 + p) / s)
        out.append((o0, max(o0, o1)))
    return tuple(out)


def slab(box: Box, st: Stage, in_size: Triple) -> Box:
    """The input range that computes output `box`: its receptive field, cut at the edges, starting
    on a multiple of the stride (so the stage's layers keep the full pass's grid)."""
    out = []
    for (o0, o1), k, s, p, n in zip(box, st.kernel, st.stride, st.padding, in_size):
        a = max(0, o0 * s - p) // s * s
        b = min(n, (o1 - 1) * s - p + k)
        out.append((a, b))
    return tuple(out)


def even(slabs: list[Box], stride: Triple, in_size: Triple) -> list[Box]:
    """The slabs grown to one length per axis (the longest), so that a batch shares one shape.

    A grown slab keeps its start (a multiple of the stride) and covers more of the input, which
    changes nothing it computes exactly. The length is chosen so that a slab that would run past
    the end can start earlier on a multiple of the stride and end at the end, the same shape."""
    lengths = []
    for axis, n, s in zip(zip(*slabs), in_size, stride):
        length = max(b - a for a, b in axis)
        lengths.append(min(n, length + (n - length) % s))       # n - length a multiple of s: one shape
    out = []
    for box in slabs:
        axes = []
        for (a, b), n, s, length in zip(box, in_size, stride, lengths):
            if a + length <= n:
                axes.append((a, a + length))
            else:
                start = max(0, n - length) // s * s
                axes.append((start, max(b, min(n, start + length))))
        out.append(tuple(axes))
    return out


def _cut(box: Box) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in box)


def _meet(inner: Box, outer: Box) -> Box:
    return tuple((max(a, c), min(b, d)) for (a, b), (c, d) in zip(inner, outer))


@torch.no_grad()
def activations(plan: Plan, x: torch.Tensor) -> list[torch.Tensor]:
    """[x, stage 1's output, ..., the last stage's output] for clips x (N, C, T, H, W)."""
    acts = [x]
    for st in plan.stages:
        acts.append(st.module(acts[-1]))
    return acts


@torch.no_grad()
def incremental_drops(plan: Plan, video: torch.Tensor, target: torch.Tensor, boxes: list, fill: torch.Tensor,
                      batch_size: int, full: torch.Tensor,
                      tick: Callable[[int], None] | None = None) -> torch.Tensor | None:
    """score(x) - score(x with box b filled from `fill`), for every clip and box: (N, P).

    video (N, C, T, H, W), target (N,) long, boxes: P (t, h, w) slice triples, fill (C, T, H, W),
    full (N,): the model's own scores of the clips. Occluded copies go `batch_size` at a time
    through each stage, grouped by the shape of their slab (copies whose box meets the same edges
    share one); `tick(k)` hears each batch of k copies. Returns None, having done nothing else,
    when the plan's score of a clip differs from `full` (a net the plan does not describe).
    """
    N, P = video.shape[0], len(boxes)

    def pick(logits, t):
        return logits.gather(1, t.view(-1, 1)).squeeze(1)
    drops = video.new_empty(N, P)
    for n in range(N):
        acts = activations(plan, video[n:n + 1])                # the full clip's, once
        mine = pick(plan.head(acts[-1]), target[n:n + 1])[0]
        if not torch.isclose(mine, full[n], rtol=1e-5, atol=1e-6 * max(1.0, float(full[n].abs()))):
            return None
        for start in range(0, P, batch_size):
            chunk = list(range(start, min(P, start + batch_size)))
            # per occluded copy: the box changed at the current depth and its new values there
            state = []
            for p in chunk:
                box = tuple((s.start, s.stop) for s in boxes[p])
                state.append((box, fill[(slice(None), *boxes[p])][None]))     # (1, C, box dims)
            for i, st in enumerate(plan.stages):
                src, out_size = acts[i], tuple(acts[i + 1].shape[2:])
                out_boxes = [changed(box, st, out_size) for box, _ in state]
                in_boxes = even([slab(o, st, tuple(src.shape[2:])) for o in out_boxes], st.stride,
                                tuple(src.shape[2:]))
                groups: dict = {}
                for j, ((box, values), out_box, in_box) in enumerate(zip(state, out_boxes, in_boxes)):
                    key = tuple(b - a for a, b in in_box)
                    groups.setdefault(key, []).append((j, box, values, in_box, out_box))
                new_state = [None] * len(state)
                for members in groups.values():
                    slabs = []
                    for j, box, values, in_box, out_box in members:
                        piece = src[(0, slice(None), *_cut(in_box))].clone()     # (C, slab dims)
                        meet = _meet(box, in_box)
                        if all(a < b for a, b in meet):
                            rel = tuple(slice(a - c, b - c) for (a, b), (c, _) in zip(meet, in_box))
                            vrel = tuple(slice(a - c, b - c) for (a, b), (c, _) in zip(meet, box))
                            piece[(slice(None), *rel)] = values[(0, slice(None), *vrel)]
                        slabs.append(piece)
                    out = st.module(torch.stack(slabs))                            # (B, C', out dims)
                    for b, (j, _, _, in_box, out_box) in enumerate(members):
                        cut = tuple(slice(o0 - a // s, o1 - a // s)
                                    for (o0, o1), (a, _), s in zip(out_box, in_box, st.stride))
                        new_state[j] = (out_box, out[(slice(b, b + 1), slice(None), *cut)])
                state = new_state
            last = acts[-1].expand(len(chunk), *acts[-1].shape[1:]).clone()       # (B, C, T', H', W')
            for b, (box, values) in enumerate(state):
                last[(b, slice(None), *_cut(box))] = values[0]
            drops[n, start:start + len(chunk)] = full[n] - pick(plan.head(last), target[n].expand(len(chunk)))
            if tick is not None:
                tick(len(chunk))
    return drops
