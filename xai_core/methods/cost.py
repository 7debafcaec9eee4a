"""How long a method will take on a model, estimated from a pass measured on this machine.

    seconds = estimate_seconds(model, "integrated_gradients")     # e.g. 35.2

An estimate, not a promise: the forward passes the method declares for its options
(`options.expected_passes`, the model's own defaults for the method merged under the given
options) times the time of one pass, measured here:

- `pass_cost(model)` times one forward pass without gradients and one forward pass with the
  backward pass to the input, on a spec-shaped zero clip, on the model's device; once per model
  object (remembered on it). A pass under 0.1 s is repeated and the median taken: the first call
  of a small net pays one-time set-up.
- Gradient methods are charged the forward+backward pass, the others the forward pass; every
  explanation adds the prediction's own forward pass (and, for complete methods, the two passes
  of the completeness check).
- Once a method has run on the model (`observe`, called by `explain()`), its measured seconds
  per pass replace the generic pass for that method: Grad-CAM's backward pass stops at its
  layer, occlusion's batched passes cost less per clip than one alone.

The machine's load at the time of measuring is in the numbers: an estimate is as good as the
pass it was measured from.
"""
from __future__ import annotations

import statistics
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass

import torch

from .options import expected_passes, validate_options
from .registry import get_method

REPEAT_BELOW = 1.0          # seconds: a first pass faster than this is timed again (median of several):
                            # the first call also makes the backend's kernels (oneDNN), measured at
                            # 0.35 s for c3d_small's 14 ms forward, which made occlusion "≈ 2 min" for 1 s
REPEAT_BUDGET = 0.5         # seconds spent repeating one kind of pass, at most
_ATTR = "_xai_pass_cost"
_OBSERVED = "_xai_observed_pass"
_measuring = threading.Lock()


@dataclass(frozen=True)
class PassCost:
    """Seconds for one clip's pass through a model, measured on this machine."""

    forward: float              # one forward pass, no gradients
    backward: float             # one forward pass and the backward pass to the input
    shape: tuple                # the clip measured, (1, C, T, H, W)
    device: str

    def per_pass(self, needs_gradients: bool) -> float:
        return self.backward if needs_gradients else self.forward


def _timed(fn, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def _measure(fn, device: torch.device) -> float:
    """Seconds of one call of `fn`: once when that is slow (REPEAT_BELOW), else the median of at
    least one repeat after it (the first call is a warm-up)."""
    first = _timed(fn, device)
    if first >= REPEAT_BELOW:
        return first
    times, spent = [], first
    while not times or (spent < REPEAT_BUDGET + first and len(times) < 25):
        times.append(_timed(fn, device))
        spent += times[-1]
    return statistics.median(times)


def measured(model) -> PassCost | None:
    """The model's measured pass, or None when it has not been measured yet (nothing is run)."""
    return getattr(model, _ATTR, None)


def pass_cost(model, timeout: float = -1) -> PassCost | None:
    """One clip's forward and forward+backward seconds on `model` (a VideoModel), measured once.

    Measured on a zero clip of the model's input spec on its device, under the model's lock
    (explanations hook the model while they run; a timing pass must not be counted by them).
    `timeout` (seconds, -1: wait as long as it takes) bounds the wait for that lock; None when
    it is busy that long.
    """
    cost = measured(model)
    if cost is not None:
        return cost
    lock = getattr(model, "lock", None) or nullcontext()
    if hasattr(lock, "acquire"):
        if not lock.acquire(timeout=timeout):
            return None
    try:
        with _measuring:
            cost = measured(model)
            if cost is None:
                cost = _measure_model(model)
                setattr(model, _ATTR, cost)
        return cost
    finally:
        if hasattr(lock, "release"):
            lock.release()


def _measure_model(model) -> PassCost:
    device = next(model.parameters()).device
    shape = (1, *model.spec.shape)
    x = torch.zeros(shape, device=device)

    def forward():
        with torch.no_grad():
            model(x)

    def backward():
        leaf = x.clone().requires_grad_(True)
        with torch.enable_grad():
            (grad,) = torch.autograd.grad(model(leaf)[:, 0].sum(), leaf)

    return PassCost(_measure(forward, device), _measure(backward, device), shape, str(device))


def observe(model, method: str, passes: int, seconds: float) -> None:
    """Remember what a method's run measured: `seconds` for `passes` clips' passes (explain() calls it)."""
    if passes < 1 or not seconds > 0:
        return
    try:
        observed = getattr(model, _OBSERVED)
    except AttributeError:
        observed = {}
        try:
            setattr(model, _OBSERVED, observed)
        except (AttributeError, TypeError):
            return
    observed[method] = seconds / passes


def observed_per_pass(model, method: str) -> float | None:
    """Seconds per pass the method's last run on `model` measured, or None."""
    return getattr(model, _OBSERVED, {}).get(method)


def expected_work(model, method: str, options: dict | None = None, video_shape: tuple | None = None) -> int:
    """Forward passes `method` is expected to make on one clip of `model` with `options`
    (the model's defaults for the method merged under them; validated as run_method would)."""
    info = get_method(method)
    shape = tuple(video_shape or (1, *model.spec.shape))
    defaults = model.info.defaults_for(method) if hasattr(model, "info") else {}
    options = validate_options(info, {**defaults, **(options or {})}, shape)
    passes, _ = expected_passes(info, options, shape)
    return passes * shape[0]


def estimate_seconds(model, method: str, options: dict | None = None, video_shape: tuple | None = None,
                     cost: PassCost | None = None) -> float:
    """Expected seconds for explain(model, clip, method, **options) on a clip of `video_shape`
    ((N, C, T, H, W), default: one clip of the model's spec): the passes the method declares for
    its options x the measured seconds per pass (`pass_cost`, measured now if not yet; `cost`
    to use another), plus the prediction's forward pass (and the completeness check's two).

    Raises MethodError for options the method does not take (as explain() would).
    """
    info = get_method(method)
    passes = expected_work(model, method, options, video_shape)
    cost = cost or pass_cost(model)
    per = observed_per_pass(model, method) or cost.per_pass(info.needs_gradients)
    n = (video_shape or (1,))[0]
    extra = n * cost.forward * (1 + (2 if info.complete else 0))
    return passes * per + extra


def describe(seconds: float | None) -> str:
    """An estimate in words: "< 1 s", "≈ 35 s", "≈ 4 min", "≈ 2.5 h"; "" for None."""
    if seconds is None:
        return ""
    if seconds < 1:
        return "< 1 s"
    if seconds < 90:
        return f"≈ {seconds:.0f} s"
    if seconds < 90 * 60:
        return f"≈ {seconds / 60:.0f} min"
    return f"≈ {seconds / 3600:.1f} h"
