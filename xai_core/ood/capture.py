"""Record what the detector needs during the model's own forward pass: hooks only in `observe`.

    with observe(model, terms) as seen:    # forward hooks on the layers the terms name
        logits = model(video)             # the prediction's forward pass; nothing runs twice
    seen.features                         # {term name: (N, D) float64}

The hooks are removed in `finally`, on success and on error.
"""
from __future__ import annotations

import threading

from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
from torch import nn

from .statistics import channel_stats, noise_floor


@dataclass
class Seen:
    """Features recorded during one forward pass, by term name, each (N, D) float64."""

    features: dict = field(default_factory=dict)
    batch: int | None = None


def last_linear(net: nn.Module) -> nn.Linear:
    """The final classification layer: the last nn.Linear in module order."""
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("the model has no nn.Linear layer: no penultimate features")
    return linears[-1]


@contextmanager
def observe(model, terms):
    """Hooks on `model` (a VideoModel) for `terms` (detector.Term); yields a Seen.

    "input" terms: the noise floor of the video the model receives (a forward pre-hook);
    "layer" terms: channel_stats of that layer's output (a forward hook);
    "penultimate" terms: the input of the last nn.Linear, (N, D) (a forward pre-hook).
    Features are recorded on the first call of each hook (a layer that runs twice in one pass,
    or a second pass in the same block, does not overwrite them), and so is the batch size.
    Only passes run by the thread that opened the block count: the hooks sit on a model that other
    threads (other dashboard sessions) may run at the same time, and their passes must not be
    read as this one's (found by tests/test_concurrency.py under load: "the first pass ran 1
    clips, not 6").
    """
    seen = Seen()
    handles = []
    owner = threading.get_ident()

    def on_input(module, inputs):
        if threading.get_ident() != owner:
            return
        video = inputs[0]
        if seen.batch is None:
            seen.batch = int(video.shape[0])
        for t in terms:
            if t.source == "input" and t.name not in seen.features:
                seen.features[t.name] = noise_floor(video, model.spec)

    def on_layer(name):
        def hook(module, inputs, output):
            if threading.get_ident() == owner and name not in seen.features:
                seen.features[name] = channel_stats(output, seen.batch)
        return hook

    def on_head(name):
        def hook(module, inputs):
            if threading.get_ident() == owner and name not in seen.features:
                seen.features[name] = inputs[0].detach().double().cpu().numpy().reshape(seen.batch, -1)
        return hook

    try:
        handles.append(model.register_forward_pre_hook(on_input))
        for t in terms:
            if t.source == "layer":
                handles.append(model.net.get_submodule(t.layer).register_forward_hook(on_layer(t.name)))
            elif t.source == "penultimate":
                handles.append(last_linear(model.net).register_forward_pre_hook(on_head(t.name)))
        yield seen
    finally:
        for h in handles:
            h.remove()


def stack(seens: list[Seen]) -> dict[str, np.ndarray]:
    """Features of several passes, concatenated along the batch: {term: (sum N, D)}."""
    return {k: np.concatenate([s.features[k] for s in seens]) for k in seens[0].features}
