"""Sanity check by cascading model randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps").

A map that explains the model must change when the model is destroyed. On a copy of the model the
layers are re-initialised one at a time from the top (the logits) down, cumulatively; after each
step the map is computed again and compared with the trained model's map:

    s = sanity_check(model, video, target, "smoothgrad")
    s.layers      # [L] layer names, top first: step i has layers[:i + 1] re-initialised
    s.steps       # the steps measured (all by default; the last, full randomisation, always)
    s.spearman    # (len(steps), N) Spearman rank correlation of |relevance|, trained vs randomised
    s.ssim        # (len(steps), N) SSIM of the (T, H, W) maps, |relevance| / max |relevance|
    s.passed      # the fully randomised map's mean Spearman < THRESHOLD (0.5); None if n/a

Measured on this project (docs/ground_truth.md, "Evaluate"): SmoothGrad on c3d_small keeps a
Spearman of 0.68 against the fully randomised model (it fails: its map barely depends on the
weights, much as an edge detector's); occlusion and Grad-CAM fall to 0.34 or less.

Layers are the modules holding parameters of their own (convolutions, linear layers, batch norms,
LSTMs), ordered by their first call in one forward pass, so "top" is what runs last. Each is
re-initialised by its own `reset_parameters()` (PyTorch's default initialisation; a batch norm
also forgets its running statistics), or, without one, each parameter is drawn from a normal
distribution with its trained standard deviation. The draws come from `seed` in a forked RNG:
the caller's random state is untouched. The caller's model is never modified.
Absolute values are compared, as Adebayo et al. do, so a map that flips sign is no different.
"""
from __future__ import annotations

import copy
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import MethodError
from ..methods.progress import Progress, part
from .maps import method_name, relevance_maps
from .rank import spearman

THRESHOLD = 0.5


@dataclass
class SanityCheck:
    """The cascading randomisation of one method on N clips (see the module)."""

    method: str
    layers: list[str]
    steps: list[int]
    spearman: np.ndarray
    ssim: np.ndarray
    threshold: float = THRESHOLD
    notes: list[str] = field(default_factory=list)      # steps whose map could not be computed

    @property
    def final_spearman(self) -> float:
        """The mean Spearman over clips at full randomisation (NaN when no clip has a ranking)."""
        finals = self.spearman[-1]
        return float(np.nanmean(finals)) if np.isfinite(finals).any() else float("nan")

    @property
    def passed(self) -> bool | None:
        """The method passes when its fully randomised map is unlike the trained one (< threshold)."""
        final = self.final_spearman
        return None if np.isnan(final) else bool(final < self.threshold)

    def to_dict(self) -> dict:
        """JSON-ready; per step the mean over clips (null where no clip has a value)."""
        return {"method": self.method, "threshold": self.threshold, "passed": self.passed,
                "final_spearman": _plain(self.final_spearman),
                "steps": [{"step": s + 1, "layer": self.layers[s], "spearman": _plain(_mean(sp)),
                           "ssim": _plain(_mean(ss))}
                          for s, sp, ss in zip(self.steps, self.spearman, self.ssim)],
                "notes": list(self.notes)}


def sanity_check(model, video: torch.Tensor, target, method, options: dict | None = None, *,
                 steps: list[int] | None = None, seed: int = 0, clips_per_call: int = 8,
                 progress: Progress | None = None, trained: list | None = None) -> SanityCheck:
    """Cascading randomisation of `method` (a registered name, or a function as relevance_maps
    takes) on clips `video` (N, C, T, H, W), targets (N,).

    steps    the 0-based steps after which the map is recomputed (default: every layer); the last
             step (every layer random) is always measured. Each measured step costs one run of the
             method on the N clips; the layers are re-initialised in order regardless.
    trained  the trained model's maps of these clips with these options, when already computed
             (relevance_maps' output: evaluate() has them from the deletion curves); else computed.
    Raises ValueError for a model without parameters, MethodError as run_method does.
    """
    layers = cascade_layers(model, video[:1])
    last = len(layers) - 1
    steps = sorted({min(max(int(s), 0), last) for s in (steps if steps is not None else range(len(layers)))} | {last})
    runs = (trained is None) + len(steps)                  # the trained map, then one per measured step
    if trained is None:
        trained = relevance_maps(model, method, video, target, options, clips_per_call,
                                 part(progress, 0, 1 / runs, "sanity, trained: "))
    elif len(trained) != len(video):
        raise ValueError(f"sanity_check: {len(trained)} trained maps for {len(video)} clips")
    first = runs - len(steps)
    randomised = copy.deepcopy(model)
    modules = dict(randomised.named_modules())
    rho, sim, notes = [], [], []
    with _forked_rng(next(randomised.parameters()).device):
        for i, name in enumerate(layers):
            torch.manual_seed(seed * 100_003 + i)
            reinitialise(modules[name])
            if i not in steps:
                continue
            try:
                maps = relevance_maps(randomised, method, video, target, options, clips_per_call,
                                      part(progress, (first + steps.index(i)) / runs, 1 / runs,
                                           f"sanity, {i + 1} of {len(layers)} layers random: "))
            except MethodError as e:                       # e.g. a randomised LSTM whose scores overflow
                notes.append(f"step {i + 1} ({name}): no map ({e}); its figures are n/a")
                maps = [None] * len(trained)
            rho.append([np.nan if b is None else spearman(np.abs(a), np.abs(b)) for a, b in zip(trained, maps)])
            sim.append([np.nan if b is None else map_ssim(a, b) for a, b in zip(trained, maps)])
    return SanityCheck(method_name(method), layers, steps, np.array(rho, np.float64), np.array(sim, np.float64),
                       notes=notes)


def cascade_layers(model: nn.Module, video: torch.Tensor) -> list[str]:
    """Names of the modules with parameters of their own, top (last called) first, from one
    forward pass of `video` (hooks removed in finally). Raises ValueError if there are none."""
    owners = {name: m for name, m in model.named_modules() if any(True for _ in m.parameters(recurse=False))}
    called: list[str] = []
    handles = [m.register_forward_pre_hook(lambda mod, args, name=name: called.append(name))
               for name, m in owners.items()]
    try:
        with getattr(model, "lock", None) or nullcontext(), torch.no_grad():
            model(video)
    finally:
        for h in handles:
            h.remove()
    first = list(dict.fromkeys(called))                      # in order of first call
    first += [n for n in owners if n not in first]           # never called: their weights count too
    if not first:
        raise ValueError(f"sanity check: {type(model).__name__} has no parameters to randomise")
    return first[::-1]


@torch.no_grad()
def reinitialise(module: nn.Module) -> None:
    """Re-initialise one module's own parameters: reset_parameters(), else N(0, trained std)."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        return
    for p in module.parameters(recurse=False):
        p.normal_(0.0, float(p.std()) if p.numel() > 1 and float(p.std()) > 0 else 0.02)


def map_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (skimage.metrics.structural_similarity) of two (T, H, W) maps' |values|, each divided by
    its maximum (an all-zero map stays 0), data range 1; the window is 7, or the smallest axis if
    odd and smaller (NaN below 3)."""
    from skimage.metrics import structural_similarity

    x, y = (np.abs(np.asarray(m, np.float64)) for m in (a, b))
    x, y = (m / m.max() if m.max() > 0 else m for m in (x, y))
    win = min(7, min(x.shape) if min(x.shape) % 2 else min(x.shape) - 1)
    if win < 3:
        return float("nan")
    return float(structural_similarity(x, y, data_range=1.0, win_size=win))


@contextmanager
def _forked_rng(device: torch.device):
    devices = [torch.cuda.current_device() if device.index is None else device.index] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield


def _mean(values) -> float:
    v = np.asarray(values, np.float64)
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def _plain(x: float):
    return None if x is None or not np.isfinite(x) else float(x)
