"""Hooks only inside a context manager: removed in `finally`, on success and on error."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Captured:
    activation: torch.Tensor | None = None
    gradient: torch.Tensor | None = None
    handles: list = field(default_factory=list)


@contextmanager
def capture(layer: nn.Module, detach_input_graph: bool = False):
    """Record `layer`'s output and, on backward, its gradient (a tensor hook set in a forward hook).

    With `detach_input_graph`, the output is detached and made a leaf, so a backward pass stops
    at this layer and never goes back to the input: a CAM then costs about one forward pass.
    The hook also switches gradients on, so the layers before this one can run under
    `torch.no_grad()` (no graph at all) and only the layers after it build one; the grad mode
    in force on entry is restored on exit.
    """
    rec = Captured()
    grad_mode = torch.is_grad_enabled()

    def forward_hook(module, inputs, output):
        if detach_input_graph:
            torch.set_grad_enabled(True)               # the layers after this one build a graph
            rec.activation = output.detach().requires_grad_(True)
            output = rec.activation.clone()            # not the leaf: in-place ops downstream stay legal
        else:
            rec.activation = output
        if output.requires_grad:
            rec.handles.append(output.register_hook(lambda g: setattr(rec, "gradient", g)))
        return output

    handle = layer.register_forward_hook(forward_hook)
    try:
        yield rec
    finally:
        handle.remove()
        for h in rec.handles:
            h.remove()
        torch.set_grad_enabled(grad_mode)


@contextmanager
def rnn_without_cudnn(model: nn.Module):
    """Run `model`'s RNN layers without cuDNN while in the block; everything else keeps it.

    cuDNN refuses the backward of an RNN in eval mode ("cudnn RNN backward can only be called
    in training mode"), so gradient methods on a CNN+LSTM on a GPU need the native RNN kernels.
    The switch is process-wide while an RNN runs (other threads' convolutions in that moment
    only run slower); it is restored after each RNN call and on exit, also on error.
    """
    enabled = torch.backends.cudnn.enabled

    def off(module, inputs):
        torch.backends.cudnn.enabled = False

    def on(module, inputs, output):
        torch.backends.cudnn.enabled = enabled

    rnns = [m for m in model.modules() if isinstance(m, nn.RNNBase)]
    handles = [h for m in rnns for h in (m.register_forward_pre_hook(off), m.register_forward_hook(on))]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
        torch.backends.cudnn.enabled = enabled
