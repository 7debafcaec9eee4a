"""The model's last layer: which module it is, and what goes into and out of it in a forward pass.

Influence examples look at the classifier's last layer only: its input are the penultimate
features f (N, D), its output the class scores. A forward hook on that module captures both
during the ordinary forward pass of the model (removed in `finally`).
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import InfluenceError


def last_linear(net: nn.Module) -> str | None:
    """The dotted name of the last nn.Linear in `net.named_modules()` (what models.train snapshots)."""
    names = [n for n, m in net.named_modules() if isinstance(m, nn.Linear)]
    return names[-1] if names else None


def head_layer(net: nn.Module, num_classes: int) -> str:
    """The classifier layer: the last nn.Linear, else the last 1x1(x1) convolution with one output
    channel per class (I3D's `logits`). InfluenceError when there is neither."""
    name = last_linear(net)
    if name is not None:
        return name
    convs = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d))
             and all(k == 1 for k in m.kernel_size) and m.out_channels == num_classes]
    if convs:
        return convs[-1]
    raise InfluenceError("the model has no last linear layer (nor a 1x1 classifier convolution) "
                         "whose input could serve as its features")


def other_heads(net: nn.Module, layer: str, num_classes: int) -> list[str]:
    """Other nn.Linear layers with one output per class (a second head whose logits are added in)."""
    return [n for n, m in net.named_modules()
            if isinstance(m, nn.Linear) and n != layer and m.out_features == num_classes]


@dataclass
class Seen:
    """What the hooked layer saw in one forward pass: features (N, D) and its output (N, C)."""

    features: torch.Tensor | None = None
    output: torch.Tensor | None = None
    calls: int = 0


def _pool(t: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """(N, ..., D) for a linear layer or (N, D, ...) for a convolution -> (N, D), averaged over the rest."""
    if t.dim() == 2:
        return t
    return t.flatten(1, -2).mean(1) if channels_last else t.flatten(2).mean(2)


@contextmanager
def capture(net: nn.Module, layer: str, delta: torch.Tensor | None = None):
    """Yield a `Seen` filled by the next forward pass: the layer's input and output pooled to
    (N, D) and (N, C) (a linear layer applied per time step is averaged over time, as is a
    convolution's output over its positions). `delta` (N, C), if given, is added to the layer's
    output (the check that it reaches the logits unchanged). The hook is removed in `finally`."""
    module = net.get_submodule(layer)
    channels_last = isinstance(module, nn.Linear)
    seen = Seen()

    def hook(mod, inputs, output):
        seen.calls += 1
        seen.features = _pool(inputs[0].detach(), channels_last).float()
        seen.output = _pool(output.detach(), channels_last).float()
        if delta is not None:
            return output + delta.to(output).view(delta.shape[0], *([1] * (output.dim() - 2)), -1) \
                if channels_last else output + delta.to(output).view(*delta.shape, *([1] * (output.dim() - 2)))
        return None

    handle = module.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


@torch.no_grad()
def forward_head(model, video: torch.Tensor, layer: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One forward pass: (features (N, D), layer output (N, C), logits (N, C)), float32, on CPU."""
    with capture(model.net, layer) as seen:
        logits = model(video)
    if seen.calls != 1:
        raise InfluenceError(f"layer {layer!r} ran {seen.calls} times in one forward pass; influence needs "
                             "a last layer that runs once per clip")
    return seen.features.cpu(), seen.output.cpu(), logits.detach().float().cpu()


@torch.no_grad()
def logits_follow_layer(model, video: torch.Tensor, layer: str) -> bool:
    """Whether the logits move exactly as the layer's output does: logits = output + a term the
    layer does not touch (one head, or heads summed, as two_stream's). Fast TracIn computes the
    logits at each checkpoint from that; checked on `video` with a random shift of the output."""
    _, out, logits = forward_head(model, video, layer)
    delta = torch.randn(out.shape, generator=torch.Generator().manual_seed(0)) * (1 + out.abs().mean())
    with capture(model.net, layer, delta=delta.to(video.device)):
        shifted = model(video).float().cpu()
    return bool(torch.allclose(shifted - logits, delta, rtol=1e-3, atol=1e-3 * (1 + float(delta.abs().max()))))
