"""Grad-CAM on a space-time layer: saliency tubes (Stergiou et al. 2019) from one forward pass,
with channel weights for the whole clip (grad_cam) or per time step (grad_cam_per_frame).

The layers before the CAM layer run under `torch.no_grad()`; the layer's forward hook switches
gradients on and hands the rest of the net a detached copy of its output, so the backward pass
runs through the head only and never back to the input.

Hand-written (the hook in `hooks.capture(detach_input_graph=True)`) rather than captum's
LayerGradCam, which gives the same map (tests/test_methods.py) but runs the whole forward pass
with a graph from the input on: on I3D at T = 32 on the CPU both cost about one forward pass,
but captum holds every activation before Mixed_5c, about 1.7 GB of peak memory against 0.2 GB
here (docs/benchmarks.md, "I3D"). The map itself (channel weights, ReLU, trilinear upsampling)
is a few tensor operations after it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MethodError, ModelSpecError
from ..models.check import layout_problem, to_ncthw
from .gradients import target_scores
from .hooks import capture, rnn_without_cudnn
from .registry import register_method


def resolve_layer(model: nn.Module, layer: nn.Module | str | None,
                  method: str = "grad_cam") -> tuple[nn.Module, str]:
    """The CAM layer and its output layout: a module, a dotted name inside `model`, or None for the
    model's declared one (a VideoModel's `cam_layer`, with its spec's `cam_layout`). Errors name
    `method`."""
    layout = "NCTHW"
    try:
        if layer is None:
            layer = getattr(model, "cam_layer", None)  # VideoModel: a module; a zoo net: a dotted name
            info = getattr(model, "info", None)
            layout = getattr(info, "cam_layout", None) or layout
        if isinstance(layer, nn.Module):
            return layer, layout
        if isinstance(layer, str) and hasattr(model, "layer"):  # VideoModel: names inside its net
            info = getattr(model, "info", None)
            if info is not None and layer == info.cam_layer:
                layout = info.cam_layout
            return model.layer(layer), layout
        if isinstance(layer, str):
            return model.get_submodule(layer), layout
    except (ModelSpecError, AttributeError) as e:
        raise MethodError(f"{method}: {e}") from None
    raise MethodError(f"{method}: model {type(model).__name__} declares no CAM layer; "
                      "pass one with layer=<dotted module name>")


def joined_activations(rec, where: str, input_shape, layout: str) -> list[torch.Tensor]:
    """The CAM layer's outputs, each (N, C', T_i, H', W') in NCTHW, checked to be joinable in time.

    A layer that runs more than once per forward pass (a backbone applied to each part of a clip,
    as multi-clip models do) is read as the model uses it: all calls joined along time, in call
    order. Calls of different shape cannot be joined and are refused, never read from the last
    call only.
    """
    if not rec.activations:
        raise MethodError(f"{where} did not run in the forward pass")
    if not all(torch.is_tensor(a) and a.dim() == 5 for a in rec.activations):
        shapes = [tuple(a.shape) if torch.is_tensor(a) else type(a).__name__ for a in rec.activations]
        raise MethodError(f"{where} outputs {shapes[0] if len(shapes) == 1 else shapes}; "
                          "a CAM layer must output (N, C, T, H, W)")
    maps = [to_ncthw(a, layout) for a in rec.activations]                  # each (N, C', T_i, H', W')
    if len({(a.shape[0], a.shape[1], *a.shape[3:]) for a in maps}) > 1:
        raise MethodError(f"{where} runs {len(maps)} times per forward pass with outputs of different "
                          f"shapes {[tuple(a.shape) for a in maps]}; they cannot be joined in time: "
                          "choose a layer that runs once")
    problem = layout_problem((*maps[0].shape[:2], sum(a.shape[2] for a in maps), *maps[0].shape[3:]),
                             tuple(input_shape), "NCTHW")
    if problem:
        raise MethodError(f"{where} {problem}")
    return maps


def cam_maps(model, video, target, layer, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The CAM layer's activations A and the score's gradients G there, both (N, C', T', H', W').

    One forward pass (the layers before the CAM layer without a graph) and a backward pass that
    stops at the layer; a layer run several times is joined along time, a channels-last one read
    in its declared layout. Raises MethodError (naming `method`) for a layer that does not fit.
    """
    module, layout = resolve_layer(model, layer, method)
    where = f"{method}: layer {layer if isinstance(layer, str) else type(module).__name__!r}"
    with rnn_without_cudnn(model):
        with torch.no_grad(), capture(module, detach_input_graph=True) as rec:
            score = target_scores(model, video.detach(), target).sum()
        maps = joined_activations(rec, where, video.shape, layout)
        if not score.requires_grad:
            raise MethodError(f"{method}: the score does not depend on the CAM layer's output")
        grads = torch.autograd.grad(score, rec.activations, allow_unused=True)
    if any(g is None for g in grads):
        raise MethodError(f"{where}: the score does not depend on every call of the layer")
    A = torch.cat(maps, 2).detach()                                          # (N, C', T', H', W')
    G = torch.cat([to_ncthw(g, layout) for g in grads], 2)                   # (N, C', T', H', W')
    return A, G


def weighted_cam(A: torch.Tensor, weights: torch.Tensor, size) -> torch.Tensor:
    """ReLU(sum_c w_c A_c) upsampled trilinearly to `size` (T, H, W): A (N, C', T', H', W'),
    weights broadcastable to A -> (N, T, H, W)."""
    cam = F.relu((weights * A).sum(1, keepdim=True))                         # (N, 1, T', H', W')
    cam = F.interpolate(cam, size=tuple(size), mode="trilinear", align_corners=False)
    return cam[:, 0]                                                         # (N, T, H, W)


@register_method("grad_cam", "Grad-CAM (saliency tubes)", cost="cheap", native_video=True,
                 needs_layer=True, signed=False)
def grad_cam(model, video, target, *, layer: str | None = None):
    """Which space-time regions of a deep layer raised the score: coarse tubes, about one forward pass.

    Channel weights are the layer's gradients averaged over (T', H', W'); the map is
    ReLU(sum_c w_c A_c), upsampled trilinearly to the clip's T x H x W (Selvaraju et al. 2017;
    in space-time, Stergiou et al. 2019). A layer that runs several times per forward pass is
    read with all its calls joined along time; a layer whose output is channels-last is read in
    the layout the model's spec declares (`cam_layout`).
    """
    with torch.no_grad():
        A, G = cam_maps(model, video, target, layer, "grad_cam")             # (N, C', T', H', W')
        weights = G.mean(dim=(2, 3, 4), keepdim=True)                        # (N, C', 1, 1, 1)
        return weighted_cam(A, weights, video.shape[2:])                     # (N, T, H, W)


@register_method("grad_cam_per_frame", "Grad-CAM, per-frame weights", cost="cheap", native_video=True,
                 needs_layer=True, signed=False)
def grad_cam_per_frame(model, video, target, *, layer: str | None = None):
    """Grad-CAM weighing each channel per time step, not once for the whole clip: a feature can count early and not late.

    The channel weights are the layer's gradients averaged over space only, one set per time
    step t' of the layer: w_ct' = mean over (H', W') of dS/dA_c(t', h, w), and the map is
    ReLU(sum_c w_ct' A_c(t')) upsampled trilinearly to T x H x W. This is how MMAction2's GradCAM
    utility and the SlowFast visualiser weigh 3-D feature maps (mmaction/utils/gradcam_utils.py;
    Selvaraju et al. 2017 per time step); clip-wide Grad-CAM (grad_cam) averages the gradients
    over time as well. The two are the same map on a layer with one time step (T' = 1), and on a
    layer followed only by global average pooling and a linear layer, where the gradient is the
    same at every position: the default CAM layers of c3d_small and r2plus1d_small. They differ
    on earlier layers (`layer`, e.g. c3d_small's "block3") and where the head reads each frame
    on its own (frame2d_pool, cnn_lstm, two_stream: per-frame embeddings, an LSTM); I3D's head
    pools Mixed_5c over 2 of its time steps at a time, so there the edge steps weigh half.
    Same layer rules as grad_cam (calls joined in time, declared layouts).
    """
    with torch.no_grad():
        A, G = cam_maps(model, video, target, layer, "grad_cam_per_frame")   # (N, C', T', H', W')
        weights = G.mean(dim=(3, 4), keepdim=True)                           # (N, C', T', 1, 1)
        return weighted_cam(A, weights, video.shape[2:])                     # (N, T, H, W)
