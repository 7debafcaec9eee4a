"""One registry of attribution methods; the UI and the CLI list methods from its metadata.

A method is `fn(model, video (N, C, T, H, W), target (N,), **options) -> relevance (N, T, H, W)`,
registered with `@register_method(...)`. Its docstring's first line is shown to users; its
keyword options, their types and defaults are read from its signature, their numeric bounds
and the work they ask for are declared at registration (see options.py), and run_method
validates every call against them.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..errors import MethodError
from .options import MAX_BATCH_BYTES, MAX_PASSES, OptionSpec, option_specs, validate_options

COSTS = ("cheap", "moderate", "expensive")


@dataclass(frozen=True)
class MethodInfo:
    name: str
    label: str
    fn: Callable = field(repr=False, compare=False)
    cost: str = "cheap"              # cheap: about one pass; moderate: tens; expensive: hundreds
    needs_gradients: bool = True
    box: str = "white"               # white: reads gradients or layers; black: only outputs
    native_video: bool = False       # built for space-time, not an image method on a video
    needs_layer: bool = False        # reads a layer's activations (the model's CAM layer)
    complete: bool = False           # relevance sums to f(x) - f(baseline) (integrated gradients)
    signed: bool = True              # relevance can be negative (evidence against)
    description: str = ""
    options: dict = field(default_factory=dict, compare=False)          # name -> default
    option_specs: dict[str, OptionSpec] = field(default_factory=dict, compare=False, repr=False)
    work: Callable | None = field(default=None, compare=False, repr=False)  # passes per clip
    check: Callable | None = field(default=None, compare=False, repr=False)  # options x shape -> raises

    def to_dict(self) -> dict:
        """JSON-ready metadata; `option_specs` gives each option's types, bounds and choices."""
        return {"name": self.name, "label": self.label, "description": self.description,
                "cost": self.cost, "needs_gradients": self.needs_gradients, "box": self.box,
                "native_video": self.native_video, "needs_layer": self.needs_layer,
                "complete": self.complete, "signed": self.signed,
                "options": {k: list(v) if isinstance(v, tuple) else v for k, v in self.options.items()
                            if _plain(v) or isinstance(v, tuple) and all(map(_plain, v))},
                "option_specs": {k: s.to_dict() for k, s in self.option_specs.items()},
                "limits": {"passes_per_clip": MAX_PASSES, "batch_bytes": MAX_BATCH_BYTES}}


def _plain(value) -> bool:
    """An option value the UI and the CLI can show and edit: a number, a string, a flag or None."""
    return isinstance(value, (int, float, str, bool, type(None)))


_METHODS: dict[str, MethodInfo] = {}


def register_method(name: str, label: str, cost: str = "cheap", needs_gradients: bool = True,
                    box: str = "white", native_video: bool = False, needs_layer: bool = False,
                    complete: bool = False, signed: bool = True, bounds: dict | None = None,
                    work: Callable | None = None, check: Callable | None = None):
    """Decorator: register an attribution method under `name`.

    bounds  {option: (low, high)}, inclusive, None for no bound on that side; per element of a tuple
    work    work(video_shape (N, C, T, H, W), *, <the options it reads>) -> forward passes per clip
            (default: 1); run_method refuses options asking for more than options.MAX_PASSES
    check   check(video_shape, *, <the options it reads>) raises MethodError for options that are
            valid one by one but not together on that clip (validate_options calls it)
    """
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")

    def wrap(fn):
        specs = option_specs(fn, bounds)
        doc = inspect.getdoc(fn) or ""
        _METHODS[name] = MethodInfo(name, label, fn, cost, needs_gradients, box, native_video,
                                    needs_layer, complete, signed, doc.splitlines()[0] if doc else "",
                                    {k: s.default for k, s in specs.items()}, specs, work, check)
        return fn
    return wrap


def get_method(name: str) -> MethodInfo:
    _load_builtin()
    if name not in _METHODS:
        raise MethodError(f"unknown method {name!r}; methods: {', '.join(_METHODS)}")
    return _METHODS[name]


def list_methods() -> list[MethodInfo]:
    _load_builtin()
    return list(_METHODS.values())


def run_method(name: str, model: torch.nn.Module, video: torch.Tensor, target: torch.Tensor,
               **options) -> torch.Tensor:
    """Check the inputs and options, then run method `name`: relevance (N, T, H, W).

    Raises MethodError for an unknown method, a bad option (validate_options), a video that is
    not (N, C, T, H, W), a wrong number of targets, or a result that is misshapen or not finite.
    """
    info = get_method(name)
    if video.dim() != 5:
        raise MethodError(f"method {name!r}: video must be (N, C, T, H, W), got shape {tuple(video.shape)}")
    N, C, T, H, W = video.shape                      # batch, channels, time, height, width
    options = validate_options(info, options, tuple(video.shape))
    target = torch.as_tensor(target, device=video.device).long().reshape(-1)
    if target.numel() != N:
        raise MethodError(f"method {name!r}: need one target per clip ({N}), got {target.numel()}")
    relevance = info.fn(model, video, target, **options)
    if relevance.shape != (N, T, H, W):
        raise MethodError(f"method {name!r} returned shape {tuple(relevance.shape)}, "
                          f"expected {(N, T, H, W)}")
    finite = torch.isfinite(relevance)
    if not bool(finite.all()):
        nan = int(torch.isnan(relevance).sum())
        raise MethodError(f"method {name!r}: relevance is not finite ({nan:,} NaN and "
                          f"{int((~finite).sum()) - nan:,} infinite of {relevance.numel():,} values); "
                          "the model's scores or gradients overflow or are NaN on this input")
    return relevance


def _load_builtin() -> None:
    """Import the built-in method modules once; each registers itself."""
    from . import builtin  # noqa: F401
