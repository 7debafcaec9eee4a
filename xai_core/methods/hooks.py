"""Hooks only inside a context manager: removed in `finally`, on success and on error."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class Captured:
    """A layer's output on each call of one forward pass, in call order (most layers run once)."""

    activations: list = field(default_factory=list)
    handles: list = field(default_factory=list)

    @property
    def activation(self) -> torch.Tensor | None:
        """The output of the only call (None if the layer did not run)."""
        return self.activations[-1] if self.activations else None


@contextmanager
def capture(layer: nn.Module, detach_input_graph: bool = False):
    """Record `layer`'s output on every call while in the block; hooks are removed in `finally`.

    With `detach_input_graph`, each output is detached and made a leaf, so a backward pass stops
    at this layer and never goes back to the input: a CAM then costs about one forward pass.
    The hook also switches gradients on, so the layers before this one can run under
    `torch.no_grad()` (no graph at all) and only the layers after it build one; the grad mode
    in force on entry is restored on exit. Gradients of the recorded outputs are taken with
    `torch.autograd.grad(score, rec.activations)`.
    """
    rec = Captured()
    grad_mode = torch.is_grad_enabled()

    def forward_hook(module, inputs, output):
        if not torch.is_tensor(output):
            rec.activations.append(output)
            return None
        if detach_input_graph:
            torch.set_grad_enabled(True)               # the layers after this one build a graph
            leaf = output.detach().requires_grad_(True)
            rec.activations.append(leaf)
            return leaf.clone()                        # not the leaf: in-place ops downstream stay legal
        rec.activations.append(output)
        return None

    handle = layer.register_forward_hook(forward_hook)
    rec.handles.append(handle)
    try:
        yield rec
    finally:
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
