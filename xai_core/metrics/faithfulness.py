"""Faithfulness scores: does the relevance account for what the model does?"""
from __future__ import annotations

import torch


@torch.no_grad()
def completeness_gap(model, video: torch.Tensor, target: int, relevance: torch.Tensor,
                     baseline: float | str | torch.Tensor = 0.0) -> float:
    """|sum(relevance) - (f(x) - f(baseline))| / |f(x) - f(baseline)| for the target's logit.

    Zero for a complete attribution (integrated gradients with exact integration). `baseline`
    is what the method was given: a number in normalised space, "black", or a clip tensor.
    """
    from ..methods.gradients import baseline_like

    x = video[:1]                                                  # (1, C, T, H, W)
    base = baseline[:1] if torch.is_tensor(baseline) else baseline_like(model, x, baseline)
    delta = float(model(x)[0, target] - model(base)[0, target])
    total = float(relevance.sum())
    return abs(total - delta) / max(abs(delta), 1e-8)
