"""Grad-CAM on a space-time layer: saliency tubes (Stergiou et al. 2019) from one forward pass.

The layers before the CAM layer run under `torch.no_grad()`; the layer's forward hook switches
gradients on and hands the rest of the net a detached copy of its output, so the backward pass
runs through the head only and never back to the input.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import MethodError, ModelSpecError
from .gradients import target_scores
from .hooks import capture, rnn_without_cudnn
from .registry import register_method


def resolve_layer(model: nn.Module, layer: nn.Module | str | None) -> nn.Module:
    """The CAM layer: a module, a dotted name inside `model`, or None for the model's declared one."""
    try:
        if layer is None:
            layer = getattr(model, "cam_layer", None)  # VideoModel: a module; a zoo net: a dotted name
        if isinstance(layer, nn.Module):
            return layer
        if isinstance(layer, str) and hasattr(model, "layer"):  # VideoModel: names inside its net
            return model.layer(layer)
        if isinstance(layer, str):
            return model.get_submodule(layer)
    except (ModelSpecError, AttributeError) as e:
        raise MethodError(f"grad_cam: {e}") from None
    raise MethodError(f"grad_cam: model {type(model).__name__} declares no CAM layer; "
                      "pass one with layer=<dotted module name>")


@register_method("grad_cam", "Grad-CAM (saliency tubes)", cost="cheap", native_video=True,
                 needs_layer=True, signed=False)
def grad_cam(model, video, target, *, layer: str | None = None):
    """Which space-time regions of a deep layer raised the score: coarse tubes, about one forward pass.

    Channel weights are the layer's gradients averaged over (T', H', W'); the map is
    ReLU(sum_c w_c A_c), upsampled trilinearly to the clip's T x H x W.
    """
    module = resolve_layer(model, layer)
    where = f"grad_cam: layer {layer if isinstance(layer, str) else type(module).__name__!r}"
    with rnn_without_cudnn(model):
        with torch.no_grad(), capture(module, detach_input_graph=True) as rec:
            score = target_scores(model, video.detach(), target).sum()
        A = rec.activation                                      # (N, C', T', H', W')
        if A is None:
            raise MethodError(f"{where} did not run in the forward pass")
        if A.dim() != 5:
            raise MethodError(f"{where} outputs shape {tuple(A.shape)}; "
                              "a CAM layer must output (N, C, T, H, W)")
        if not score.requires_grad:
            raise MethodError("grad_cam: the score does not depend on the CAM layer's output")
        (G,) = torch.autograd.grad(score, A)                    # (N, C', T', H', W')
    with torch.no_grad():
        weights = G.mean(dim=(2, 3, 4), keepdim=True)           # (N, C', 1, 1, 1)
        cam = F.relu((weights * A).sum(1, keepdim=True))        # (N, 1, T', H', W')
        cam = F.interpolate(cam, size=video.shape[2:], mode="trilinear", align_corners=False)
    return cam[:, 0]                                            # (N, T, H, W)
